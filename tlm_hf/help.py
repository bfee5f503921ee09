"""The help screens of the scripts and of `tlm stats` / `tlm subset`: every setting's help text, grouped.

A setting has one name and one meaning everywhere (`tlm_hf.settings`), and its help text is written once, in its
field's metadata beside its type, default and range (`tlm_hf.settings.setting`); the Trainer options `--help`
shows get short texts here, by name. `--help` shows this package's settings and the few Trainer options a run
usually sets, each with its default (the recipe's, where a recipe sets it); `--help_all` adds every other
TrainingArguments option.
"""

import argparse
import dataclasses
import difflib

# Short help texts of the Trainer options `--help` shows (TrainingArguments' own are long); this package's settings
# carry theirs beside their type and default (`tlm_hf.settings.setting`).
HELP = {
    "learning_rate": "peak learning rate of this run's training (the recipe's unless set)",
    "weight_decay": "AdamW weight decay (the recipe's unless set)",
    "num_train_epochs": "training epochs",
    "max_steps": "training steps, if positive (overrides num_train_epochs)",
    "per_device_train_batch_size": "training batch size per device",
    "warmup_steps": "linear warm-up: steps, or a share of all steps if below 1",
    "lr_scheduler_type": "learning-rate schedule after warm-up: linear (to zero), cosine, constant, ...",
    "seed": "training seed (initialisation, masking, order)",
    "output_dir": "the output folder",
    "eval_strategy": "when to evaluate (held-out MLM loss / test accuracy): no, steps or epoch",
    "save_strategy": "when to save a checkpoint (for --resume): no, steps, epoch",
    "push_to_hub": "publish the finished folder with its model card (as tlm publish does)",
    "hub_model_id": "the Hub repository, ORG/NAME (default: the output folder's name)",
}

# The Trainer options `--help` shows (the others: `--help_all`), in its "recipe" and "run" groups.
RECIPE_TRAINER_OPTIONS = ("learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
                          "weight_decay", "warmup_steps", "lr_scheduler_type")
RUN_TRAINER_OPTIONS = ("output_dir", "seed", "eval_strategy", "save_strategy", "push_to_hub", "hub_model_id")

# Each settings dataclass's group; a script's own settings are its "run" unless named in RECIPE_SETTINGS.
GROUPS = {"CorpusSettings": "corpus", "SubsetSettings": "corpus", "TaskSettings": "task", "ModelSettings": "model",
          "TokenizerSettings": "model"}
RECIPE_SETTINGS = {"recipe", "mlm_probability", "wordpiece_vocab_size", "pretraining_dropout", "learning_rates",
                   "heldout_size", "heldout_where", "blimp_pairs_per_paradigm",
                   *RECIPE_TRAINER_OPTIONS}
GROUP_TITLES = {
    "corpus": "corpus (the text to pre-train on, and which W_s paragraphs of it)",
    "task": "task (labelled examples to fine-tune and test on)",
    "model": "model (architecture and vocabulary)",
    "recipe": "recipe (--recipe sets every default below; flags override it)",
    "run": "run",
    "launch": "launch (how many runs at once, and where: this machine, Ray or SLURM; no number depends on it)",
    "trainer": "Trainer (every other TrainingArguments option)",
}

EPILOG = ("Values come, lowest first, from the recipe, the YAML file of --config, then the command line. "
          "--help_all also lists every Trainer option.")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown (unless None), the description kept as written, one name per option (not also its dashed
    alias), and wide enough that most options take one line."""

    def __init__(self, prog, **kwargs):
        import shutil

        width = min(max(shutil.get_terminal_size().columns, 100), 120)
        super().__init__(prog, **{"max_help_position": 38, "width": width, **kwargs})

    def _get_help_string(self, action):
        return action.help if action.default is None else super()._get_help_string(action)

    def _format_action_invocation(self, action):
        if action.dest == "help":
            return ", ".join(action.option_strings)
        if not action.option_strings or action.nargs == 0:
            return action.option_strings[0] if action.option_strings else super()._format_action_invocation(action)
        return f"{action.option_strings[0]} {self._format_args(action, self._get_default_metavar_for_optional(action))}"


def help_text(field: dataclasses.Field, *, trainer: bool = False) -> str | None:
    """A setting's own help text, or for a Trainer option the short one here (else TrainingArguments' own)."""
    if trainer:
        return HELP.get(field.name) or field.metadata.get("help")
    return field.metadata.get("help")


def arrange_help(parser: argparse.ArgumentParser, types, *, show_all: bool = False) -> None:
    """Give `parser`'s options their help texts and groups: corpus, task, model, recipe, run (and with `show_all`
    every Trainer option; without it those are hidden)."""
    from .settings import LaunchSettings

    owner = {f.name: (t, f) for t in reversed(types) for f in dataclasses.fields(t)}
    launch = {f.name for f in dataclasses.fields(LaunchSettings)}
    groups = {name: parser.add_argument_group(title) for name, title in GROUP_TITLES.items()}
    for group in list(parser._action_groups):
        if group not in groups.values():
            group._group_actions[:] = [a for a in group._group_actions if a.dest == "help"]
    for action in parser._actions:
        if action.dest == "help":
            action.help = "show this help and exit (--help_all: with every Trainer option)"
            continue
        kind, field = owner.get(action.dest, (None, None))
        trainer = kind is not None and kind.__name__ == "TrainingArguments"
        if field is not None:
            action.help = help_text(field, trainer=trainer) or action.help
        type_name = getattr(action.type, "__name__", "")
        if type_name == "string_to_bool":
            action.metavar = "true|false"
        elif action.option_strings and action.nargs != 0:
            action.metavar = "NAME" if action.choices else {"int": "N", "float": "X"}.get(type_name, "TEXT")
        if action.dest == "config":
            name = "run"
        elif trainer and action.dest not in (*RECIPE_TRAINER_OPTIONS, *RUN_TRAINER_OPTIONS):
            name = "trainer"
            if not show_all:
                action.help = argparse.SUPPRESS
        elif action.dest in RECIPE_SETTINGS:
            name = "recipe"
        elif action.dest in launch and kind is not None and issubclass(kind, LaunchSettings):
            name = "launch"
        else:
            name = GROUPS.get(kind.__name__, "run") if kind else "run"
        if action.help == argparse.SUPPRESS and not show_all and name != "trainer":
            continue
        groups[name]._group_actions.append(action)


def nearest_option(parser: argparse.ArgumentParser, unknown: str) -> str:
    """'; did you mean --learning_rate?' for a mistyped option, or '' when nothing is near. A word that several
    options share (`--seed`: --subset_seed, --task_seed) gets each of them with what it means: the nearest by
    spelling would be a guess at which one was meant."""
    name = unknown.split("=", 1)[0]
    actions = {s: a for a in parser._actions for s in a.option_strings if s.startswith("--") and "-" not in s[2:]}
    word = name.lstrip("-")
    sharing = [option for option in actions
               if option != name and any(part.startswith(word) for part in option[2:].split("_"))]
    if len(sharing) > 1 and len(word) > 2:
        meanings = [f"{option}, {actions[option].help or 'see --help'}"
                    for option in sharing[:4]]
        return f"; did you mean {', or '.join(meanings)}?"
    hint = difflib.get_close_matches(name, list(actions), n=1)
    return f"; did you mean {hint[0]}?" if hint else ""
