"""The help screens of the scripts and of `tlm stats` / `tlm subset`: every setting's help text, grouped.

A setting has one name and one meaning everywhere (`tlm_hf.settings`), so its help text is written once, here,
by name (else a field's own `metadata={"help": ...}`, as Trainer's options have). `--help` shows this package's
settings and the few Trainer options a run usually sets, each with its default (the recipe's, where a recipe sets
it); `--help_all` adds every other TrainingArguments option.
"""

import argparse
import dataclasses
import difflib

HELP = {
    # corpus
    "corpus": "your text file (.txt: a paragraph per line; .jsonl/.csv/.parquet: a text column; .gz too), a Hub "
              "dataset id, or sample:wikitext2",
    "corpus_config": "the Hub dataset's configuration (wikimedia/wikipedia: default 20231101.en)",
    "corpus_split": "the Hub dataset's split to read",
    "corpus_text_field": "the column holding the text",
    "corpus_where": "keep only rows whose columns hold these values, KEY=VALUE[,KEY=VALUE] (e.g. split=train)",
    "normalize_wikitext": "undo WikiText's ' @-@ ' joiners and <unk> (for WikiText files)",
    "min_chars": "drop paragraphs shorter than this many characters",
    # task
    "task": "ag_news, dbpedia_14, few_rel, a Hub dataset id, or any name (default: the --task_data file's name)",
    "task_data": "your own labelled examples: FILE (.csv/.jsonl/...; split per label into train and test), or "
                 "train=FILE,test=FILE; columns text,label need no column flags",
    "train_per_label": "training examples per label (default: the paper's; for your file, what test leaves)",
    "test_per_label": "test examples per label (needed when one file is split into train and test)",
    "validation_per_label": "validation examples per label, on top of train_per_label (for choosing the learning rate)",
    "relations": "few_rel: relation ids P17,P22,..., or a number of relations drawn by task_seed",
    "entity_markers": "few_rel: wrap head and tail in [E1] ... [/E1] and [E2] ... [/E2]",
    "text_column": "the task's text column (default: text, or the longer of two columns)",
    "label_column": "the task's label column (default: label, or the other of two columns)",
    "task_seed": "which examples form train, test and validation (fixed across training seeds)",
    # subset
    "subset": "how W_s paragraphs are chosen: random, custom (only task tokens) or avoid (raised T_M)",
    "w_s": "W_s, paragraphs to pre-train on (default: the whole corpus less its held-out part)",
    "subset_seed": "seed of the random W_s paragraphs and of the held-out ones (the paper's: 42)",
    "avoid_fraction": "avoid: share of the task's tokens (T_C) kept out",
    "word_order": "shuffled: the words of each paragraph reordered",
    # model
    "preset": "the architecture: a preset (bert-6, bert-1, ...) or a config.json / model folder",
    "config_overrides": "model config fields to change, KEY=VALUE[,KEY=VALUE] (e.g. "
                        "hidden_size=128,num_hidden_layers=2)",
    "max_length": "texts are truncated at this many tokens (the paper's 128)",
    "attn_implementation": "sdpa (the default) or eager, faster in bf16 on a CPU without AMX",
    "unpad_tokens": "speed: blocks skip padding (a run setting: not saved)",
    "fast_dropout": "speed: cheaper dropout masks on a CPU (not saved)",
    "tokenizer": "tokenizer folder, Hub id or sample:bert-base-uncased (default: bert-base-uncased, or the "
                 "pre-trained folder's)",
    # recipe
    "recipe": "paper or fast: every other setting's default (fine-tuning: the pre-trained folder's recipe)",
    "mlm_probability": "share of tokens masked for the MLM loss",
    "wordpiece_vocab_size": "train a WordPiece vocabulary of this size on the W_s paragraphs, instead of --tokenizer",
    "pretraining_dropout": "dropout while pre-training (the saved model keeps the architecture's for fine-tuning)",
    "heldout_size": "paragraphs held out for the MLM evaluation (at most a tenth of the corpus); 0: none",
    "blimp_pairs_per_paradigm": "BLiMP minimal pairs per paradigm (67 paradigms) scored at each evaluation: "
                                "grammar appearing as the MLM leaves its plateau; 0: none",
    "heldout_where": "take the held-out paragraphs from the corpus rows matching KEY=VALUE (e.g. split=valid)",
    "learning_rates": "choose the learning rate among these on the validation split (needs validation_per_label), "
                      "then report the chosen model's test accuracy",
    "select_epoch": "with learning_rates: keep the epoch with the best validation accuracy, not the last",
    "learning_rate_grid": "choose each fine-tuning's learning rate among these on the validation split (needs "
                          "validation_per_label), the same grid for both arms",
    # run
    "pretrained": "the folder tlm pretrain wrote: fine-tune its encoder (and use its tokenizer)",
    "scratch": "random initialisation, the 'without pre-training' arm (architecture of --pretrained or --preset)",
    "resume": "continue from the newest complete checkpoint in OUTPUT_DIR/checkpoints",
    "num_proc": "worker processes for tokenising and filtering",
    "threads": "CPU threads of this run (torch.set_num_threads)",
    "members": "committee: the pre-trained MLM folders of its members (with --scratch: presets or folders)",
    "reference": "committee: a tlm finetune folder to compare against",
    "jobs": "runs at a time",
    "threads_per_run": "CPU threads of each run",
    "launcher": "how each run is started, e.g. python or 'accelerate launch --num_processes 2'; ray or slurm: each "
                "run a Ray task or a SLURM job (docs/cluster.md); slurm-local: submitit's local executor",
    "ray_address": "--launcher ray: the Ray cluster to join (e.g. auto, or ray://HEAD:10001); default the local "
                   "instance, started if none runs",
    "slurm_partition": "--launcher slurm: the partition of every run's job (default the queue's)",
    "slurm_time": "--launcher slurm: minutes each run's job may take",
    "gpus_per_run": "--launcher ray or slurm: GPUs of every run (default: ray 1 where the cluster has GPUs, "
                    "slurm 0)",
    "output_dir": "the output folder",
    "dry_run": "list the runs (cached or to start) and their folders; start nothing",
    "min_count": "k of T_M_k and coverage_k: task tokens seen fewer than k times count as missing",
    "json": "print JSON instead of a table",
    "format": "datasets (load_from_disk) or jsonl",
    # experiment
    "seeds": "fine-tuning seeds (the paper: at least 5)",
    "pretrain_seeds": "pre-trainings per row, one per seed (training seed and subset seed): the unit of inference",
    "shuffled_control": "a third arm per pre-training: the same paragraphs with each one's words shuffled",
    "learning_rate": "peak learning rate of this run's training (the recipe's unless set)",
    "weight_decay": "AdamW weight decay (the recipe's unless set)",
    "scratch_learning_rate": "learning rate of the scratch arm (default the recipe's fine-tuning one)",
    "scratch_weight_decay": "weight decay of the scratch arm (default the recipe's)",
    "pretrain_epochs": "pre-training epochs (default the recipe's)",
    "pretrain_learning_rate": "pre-training learning rate (default the recipe's)",
    "pretrain_weight_decay": "pre-training weight decay (default the recipe's)",
    "finetune_epochs": "fine-tuning epochs (default the recipe's)",
    "batch_size": "training batch size of every run (default the recipe's)",
    "pretrain_args": "any other pre-training setting for every pre-training, KEY=VALUE[,KEY=VALUE]",
    "finetune_args": "any other fine-tuning setting for every fine-tune, KEY=VALUE[,KEY=VALUE]",
    "variants": "compare: a YAML file whose `variants:` list what each variant changes (name, pretrain_args, "
                "config_overrides)",
    # the Trainer options --help shows (learning_rate and weight_decay above)
    "num_train_epochs": "training epochs",
    "max_steps": "training steps, if positive (overrides num_train_epochs)",
    "per_device_train_batch_size": "training batch size per device",
    "warmup_steps": "linear warm-up: steps, or a share of all steps if below 1",
    "lr_scheduler_type": "learning-rate schedule after warm-up: linear (to zero), cosine, constant, ...",
    "seed": "training seed (initialisation, masking, order)",
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
                   "learning_rate_grid", "heldout_size", "heldout_where", "blimp_pairs_per_paradigm",
                   *RECIPE_TRAINER_OPTIONS}
GROUP_TITLES = {
    "corpus": "corpus (the text to pre-train on, and which W_s paragraphs of it)",
    "task": "task (labelled examples to fine-tune and test on)",
    "model": "model (architecture and vocabulary)",
    "recipe": "recipe (--recipe sets every default below; flags override it)",
    "run": "run",
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


def help_text(field: dataclasses.Field) -> str | None:
    return HELP.get(field.name) or field.metadata.get("help")


def arrange_help(parser: argparse.ArgumentParser, types, *, show_all: bool = False) -> None:
    """Give `parser`'s options their help texts and groups: corpus, task, model, recipe, run (and with `show_all`
    every Trainer option; without it those are hidden)."""
    owner = {f.name: (t, f) for t in reversed(types) for f in dataclasses.fields(t)}
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
            action.help = help_text(field) or action.help
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
        meanings = [f"{option}, {HELP.get(actions[option].dest) or actions[option].help or 'see --help'}"
                    for option in sharing[:4]]
        return f"; did you mean {', or '.join(meanings)}?"
    hint = difflib.get_close_matches(name, list(actions), n=1)
    return f"; did you mean {hint[0]}?" if hint else ""
