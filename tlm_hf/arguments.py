"""Settings from a YAML file and the command line, for the training scripts and the `tlm` command.

Each script names the dataclasses it needs (`tlm_hf.settings`, and `transformers.TrainingArguments`) and
calls `parse_settings`. Values come, lowest first, from the recipe (`--recipe`, for scripts that train),
the YAML file (`--config`), then the command line. A key that no dataclass knows, anywhere, is an error
that names the nearest known key, never silently ignored.
"""

import argparse
import logging
import re
import sys
from decimal import Decimal
from pathlib import Path

import yaml
from transformers import HfArgumentParser

from .settings import SettingsError, check_parsed, check_settings, key_values_text

logger = logging.getLogger(__name__)

# Settings that were renamed, {old: new}: the old name is still read, from a file or the command line, with one
# deprecation line. One name per concept: `learning_rates` is every "choose the learning rate among these on the
# validation split", whether of one fine-tune, of both arms of an experiment, or (deep_) of claim 4's deep model.
RENAMED = {"learning_rate_grid": "learning_rates", "deep_learning_rate_grid": "deep_learning_rates"}
_TOLD_RENAMED: set[str] = set()  # each deprecation line once per process


def _tell_renamed(old: str, where: str) -> None:
    if old not in _TOLD_RENAMED:
        _TOLD_RENAMED.add(old)
        logger.warning(f"{where}: {old} is now called {RENAMED[old]}; the old name will stop working in a later "
                       "release, rename it")


def renamed_settings(values: dict, where: str) -> dict:
    """`values` (a YAML file's mapping, and the mappings inside it such as `claims:`) with old names renamed."""
    out = {}
    for key, value in values.items():
        if key in RENAMED:
            _tell_renamed(key, where)
            if RENAMED[key] in values:
                raise SettingsError(f"{where}: both {key} and {RENAMED[key]} are set; keep {RENAMED[key]} only")
            key = RENAMED[key]
        out[key] = renamed_settings(value, where) if isinstance(value, dict) else value
    return out


def renamed_args(args) -> list[str]:
    """A command line with old option names (`--learning_rate_grid 1e-3 3e-3`) renamed."""
    out = []
    for arg in args:
        name, sep, value = arg.partition("=")
        if name.startswith("--") and name[2:] in RENAMED:
            _tell_renamed(name[2:], "command line")
            arg = f"--{RENAMED[name[2:]]}{sep}{value}"
        out.append(arg)
    return out


def read_yaml(path) -> dict:
    """A YAML file holding one mapping of settings."""
    try:
        values = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise SettingsError(f"config file {path} not found; check the path given to --config") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise SettingsError(f"{path} is not valid YAML{where} ({problem}); fix the file") from None
    values = values or {}
    if not isinstance(values, dict):
        raise SettingsError(f"{path} must hold a mapping of settings (key: value), not {type(values).__name__}")
    return renamed_settings(values, str(path))


def coerce(action, value):
    """YAML reads `5e-5` as a string and a single value where a list is expected: convert like argparse. A mapping
    given to a KEY=VALUE setting (`config_overrides: {hidden_size: 128}`) becomes its text (`hidden_size=128`)."""
    if isinstance(value, dict) and action.type is str:
        return key_values_text(value, setting=action.dest)
    convert = action.type if callable(action.type) else (lambda v: v)
    if action.nargs in ("+", "*"):
        values = value if isinstance(value, list) else [value]
        return [convert(v) if isinstance(v, str) else v for v in values]
    return convert(value) if isinstance(value, str) else value


def inherited_recipe(folders) -> str | None:
    """The recipe the folders a fine-tune or a committee starts from were pre-trained with (their run_config.json),
    when no --recipe is given; None where none recorded one. Folders pre-trained with different recipes are
    refused: which one the members should be fine-tuned with is the user's choice."""
    from .training.recipes import pretrained_recipe

    folders = [folders] if isinstance(folders, str) else list(folders or [])
    recipes = {folder: pretrained_recipe(folder) for folder in folders}
    found = sorted({recipe for recipe in recipes.values() if recipe})
    if len(found) > 1:
        listed = ", ".join(f"{folder} {recipe}" for folder, recipe in recipes.items() if recipe)
        raise SettingsError(f"the folders were pre-trained with different recipes ({listed}); give --recipe to choose "
                            "the one they are fine-tuned with")
    return found[0] if found else None


def _early_settings(args) -> tuple[argparse.Namespace, dict]:
    """--config's file and the few settings read before the others: --recipe and the folders it may come from."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("--recipe")
    pre.add_argument("--pretrained")
    pre.add_argument("--members", nargs="+")
    early = pre.parse_known_args(args)[0]
    return early, read_yaml(early.config) if early.config else {}


def recipe_folders(args=None) -> list[str]:
    """The pre-trained folders a fine-tune (--pretrained) or a committee (--members) inherits its recipe from."""
    early, from_file = _early_settings(sys.argv[1:] if args is None else list(args))
    pretrained = early.pretrained or from_file.get("pretrained")
    members = early.members or from_file.get("members") or []
    return [pretrained] if pretrained else [member for member in members if Path(member).is_dir()]


def parse_settings(types, args=None, *, stage: str | None = None, required=(), description: str | None = None,
                   prog: str | None = None):
    """Instances of `types` from the recipe, `--config FILE.yaml` and the command line (which wins).

    stage: "pretraining" or "finetuning" for scripts that train: their defaults are that stage of the recipe
        named by `recipe` (command line, then YAML file, then for fine-tuning the recipe the --pretrained folder,
        or a committee's --members folders, were pre-trained with, then "paper"), with precision chosen now.
    required: fields that must be set by the YAML file or the command line.
    description, prog: the help screen's text (default the docstring of the script run) and command name.
    """
    from .help import EPILOG, HelpFormatter, arrange_help, nearest_option

    args = renamed_args(sys.argv[1:] if args is None else args)
    show_all = "--help_all" in args  # --help with every Trainer option too
    args = ["--help" if arg == "--help_all" else arg for arg in args]
    main_doc = getattr(sys.modules.get("__main__"), "__doc__", None)
    parser = HfArgumentParser(types, prog=prog, description=description or main_doc, epilog=EPILOG,
                              formatter_class=HelpFormatter, usage="%(prog)s [--config FILE.yaml] [--SETTING VALUE ...]")
    parser.add_argument("--config", help="YAML file of settings; command-line flags override it")
    early, from_file = _early_settings(args)
    values = {}
    if stage is not None:
        from .training.recipes import recipe_defaults

        recipe = early.recipe or from_file.get("recipe")
        if recipe is None and stage == "finetuning":  # said in the run's choices (tlm_hf.training.choices)
            recipe = inherited_recipe(recipe_folders(args))
            values.update({"recipe": recipe} if recipe else {})
        values.update(recipe_defaults(recipe or "paper", stage))
    values.update(from_file)
    actions = {action.dest: action for action in parser._actions if action.dest not in ("help", "config")}
    check_settings(types, values, early.config or "recipe")
    parser.set_defaults(**{key: coerce(actions[key], value) for key, value in values.items()})
    for dest, action in actions.items():
        action.required = dest in required and dest not in values
    arrange_help(parser, types, show_all=show_all)
    *parsed, remaining = parser.parse_args_into_dataclasses(_plain_negative_numbers(args), return_remaining_strings=True)
    if remaining:
        raise SettingsError(f"unknown option {remaining[0]!r}"
                            f"{nearest_option(parser, remaining[0]) or '; run with --help for the list of settings'}")
    check_parsed(parsed[: len(types)])  # ranges, and settings that need each other: before anything loads
    return parsed[: len(types)]


_EXPONENT_NUMBER = re.compile(r"-(\d+\.?\d*|\.\d+)[eE][-+]?\d+")


def _plain_negative_numbers(args):
    """`-1e-3` as `-0.001`: argparse takes a negative number written with an exponent for an option, and would
    refuse `--learning_rates -1e-3` with a usage screen instead of the range check's one line."""
    args = sys.argv[1:] if args is None else list(args)
    return [format(Decimal(arg), "f") if _EXPONENT_NUMBER.fullmatch(arg) else arg for arg in args]
