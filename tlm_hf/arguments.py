"""Settings from a YAML file and the command line, for the training scripts and the `tlm` command.

Each script names the dataclasses it needs (`tlm_hf.settings`, and `transformers.TrainingArguments`) and
calls `parse_settings`. Values come, lowest first, from the recipe (`--recipe`, for scripts that train),
the YAML file (`--config`), then the command line. A key that no dataclass knows, anywhere, is an error
that names the nearest known key, never silently ignored.
"""

import argparse
from pathlib import Path

import yaml
from transformers import HfArgumentParser

from .settings import SettingsError, check_settings


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
    return values


def _coerce(action, value):
    """YAML reads `5e-5` as a string and a single value where a list is expected: convert like argparse."""
    convert = action.type if callable(action.type) else (lambda v: v)
    if action.nargs in ("+", "*"):
        values = value if isinstance(value, list) else [value]
        return [convert(v) if isinstance(v, str) else v for v in values]
    return value


def parse_settings(types, args=None, *, stage: str | None = None, required=()):
    """Instances of `types` from the recipe, `--config FILE.yaml` and the command line (which wins).

    stage: "pretraining" or "finetuning" for scripts that train: their defaults are that stage of the recipe
        named by `recipe` (command line, then YAML file, then "paper"), with precision chosen now.
    required: fields that must be set by the YAML file or the command line.
    """
    parser = HfArgumentParser(types)
    parser.add_argument("--config", help="YAML file of settings; command-line flags override it")
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    pre.add_argument("--recipe")
    early = pre.parse_known_args(args)[0]
    from_file = read_yaml(early.config) if early.config else {}
    values = {}
    if stage is not None:
        from .training.recipes import recipe_defaults

        values.update(recipe_defaults(early.recipe or from_file.get("recipe") or "paper", stage))
    values.update(from_file)
    actions = {action.dest: action for action in parser._actions if action.dest not in ("help", "config")}
    check_settings(types, values, early.config or "recipe")
    parser.set_defaults(**{key: _coerce(actions[key], value) for key, value in values.items()})
    for dest, action in actions.items():
        action.required = dest in required and dest not in values
    *parsed, remaining = parser.parse_args_into_dataclasses(args, return_remaining_strings=True)
    if remaining:
        raise SettingsError(f"unknown option {remaining[0]!r}; run with --help for the list of settings")
    return parsed[: len(types)]
