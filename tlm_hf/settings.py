"""Settings of the training scripts: dataclasses filled from a YAML file, then from the command line.

Each script declares what it needs as dataclasses (its own, the shared `CorpusSettings`, `TaskSettings`,
`ModelSettings` below, and `transformers.TrainingArguments`) and calls `parse_settings`. A key that no
dataclass knows, in the YAML file or on the command line, is an error, never silently ignored.
"""

import argparse
import difflib
import json
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import yaml
from transformers import HfArgumentParser


class SettingsError(ValueError):
    """A mistake in the settings, reported as one line with the fix."""


def bf16_available() -> bool:
    """bf16 autocast where the hardware runs it natively: recent GPUs, and CPUs with AMX (Sapphire Rapids on),
    where it trains BERT-6 about 1.5x faster than fp32. fp32 elsewhere."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_amx_tile_supported() and torch.cpu._is_avx512_bf16_supported()


def precision_defaults() -> dict:
    """TrainingArguments for bf16 where available (Trainer accepts bf16 on a CPU only with use_cpu)."""
    if not bf16_available():
        return {}
    return {"bf16": True} if torch.cuda.is_available() else {"bf16": True, "use_cpu": True}


def parse_settings(types, args=None, *, defaults=None, required=()):
    """Instances of `types` from `--config FILE.yaml` and the command line (which wins).

    defaults: the script's own defaults (e.g. the paper's recipe), under the YAML file.
    required: fields that must be set by the YAML file or the command line.
    """
    parser = HfArgumentParser(types)
    parser.add_argument("--config", help="YAML file of settings; command-line flags override it")
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--config")
    config_path = pre.parse_known_args(args)[0].config
    values = dict(defaults or {})
    if config_path:
        values.update(read_yaml(config_path))
    actions = {action.dest: action for action in parser._actions}
    for key in values:
        if key not in actions or key in ("help", "config"):
            hint = difflib.get_close_matches(key, actions, n=1)
            raise SettingsError(
                f"{config_path or 'defaults'}: unknown setting {key!r}; "
                + (f"did you mean {hint[0]!r}?" if hint else "remove it or check the spelling")
            )
    parser.set_defaults(**{key: _coerce(actions[key], value) for key, value in values.items()})
    for dest, action in actions.items():
        action.required = dest in required and dest not in values
    *parsed, remaining = parser.parse_args_into_dataclasses(args, return_remaining_strings=True)
    if remaining:
        raise SettingsError(f"unknown option {remaining[0]!r}; run with --help for the list of settings")
    return parsed[: len(types)]


def read_yaml(path) -> dict:
    """A YAML file holding one mapping of settings."""
    try:
        values = yaml.safe_load(Path(path).read_text()) or {}
    except FileNotFoundError:
        raise SettingsError(f"config file {path} not found; check the path given to --config") from None
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


def parse_overrides(text: str | None) -> dict:
    """'hidden_size=32,num_hidden_layers=1' -> {'hidden_size': 32, 'num_hidden_layers': 1}."""
    overrides = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep:
            raise SettingsError(f"config_overrides expects KEY=VALUE[,KEY=VALUE], got {item!r}")
        overrides[key.strip()] = yaml.safe_load(value)
    return overrides


def atomic_write(path, data: str | bytes) -> None:
    """Write through a temporary sibling and `os.replace`: readers and interrupted runs never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = "wb" if isinstance(data, bytes) else "w"
    with tempfile.NamedTemporaryFile(mode, dir=path.parent, prefix=f".{path.name}.", delete=False) as f:
        f.write(data)
    os.replace(f.name, path)


def write_json(path, data) -> None:
    atomic_write(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path):
    return json.loads(Path(path).read_text())


# TrainingArguments that change what a run computes (not how fast or how it logs).
RUN_DEFINING_ARGS = (
    "learning_rate", "weight_decay", "num_train_epochs", "max_steps", "per_device_train_batch_size",
    "gradient_accumulation_steps", "lr_scheduler_type", "warmup_steps", "seed", "optim", "bf16", "fp16",
)


def run_config(settings, training_args) -> dict:
    """The run_config.json of a run: every script setting and the run-defining TrainingArguments."""
    merged = {}
    for part in settings:
        merged.update(asdict(part))
    merged.pop("resume", None)
    training = {name: getattr(training_args, name) for name in RUN_DEFINING_ARGS}
    training["world_size"] = training_args.world_size
    return json.loads(json.dumps({"settings": merged, "training": training}, default=str))


def claim_run_dir(run_dir, config: dict, *, write: bool) -> None:
    """Refuse a folder that holds another run's run_config.json; else (on the main process) record ours."""
    path = Path(run_dir) / "run_config.json"
    if path.exists():
        old = json.loads(path.read_text())
        for section in ("settings", "training"):
            for key in sorted(set(old.get(section, {})) | set(config[section])):
                before, now = old.get(section, {}).get(key), config[section].get(key)
                if before != now:
                    raise SettingsError(
                        f"{run_dir} already holds a different run ({key} was {before!r}, now {now!r}); "
                        "choose another --output_dir or delete that folder"
                    )
    if write:
        write_json(path, config)


# --- settings shared by the scripts -----------------------------------------------------------------


@dataclass
class CorpusSettings:
    """The pre-training corpus: a Hub dataset or local files, one paragraph per row after loading."""

    corpus: str = "wikimedia/wikipedia"
    corpus_config: str | None = None
    corpus_split: str = "train"
    corpus_text_field: str = "text"
    corpus_where: str | None = None  # "split=train": keep rows whose columns hold these values
    normalize_wikitext: bool = False  # undo WikiText's " @-@ " joiners and <unk>
    min_chars: int = 1

    def load(self, num_proc=None):
        from .corpus import load_paragraphs

        where = dict(item.split("=", 1) for item in self.corpus_where.split(",")) if self.corpus_where else None
        return load_paragraphs(
            self.corpus, config=self.corpus_config, split=self.corpus_split, text_field=self.corpus_text_field,
            normalize_wikitext=self.normalize_wikitext, min_chars=self.min_chars, where=where, num_proc=num_proc,
        )


@dataclass
class TaskSettings:
    """A classification task of the registry (or any Hub dataset with its columns), sampled per label."""

    task: str | None = None  # ag_news, dbpedia_14, few_rel
    task_data: str | None = None  # local files: "train=FILE,test=FILE", or one FILE split per label
    train_per_label: int | None = None  # default: the paper's
    test_per_label: int | None = None
    relations: str | None = None  # few_rel: "P17,P22,..." or a count drawn by task_seed
    entity_markers: bool = False
    text_column: str | None = None
    label_column: str | None = None
    task_seed: int = 42  # which examples form train and test; fixed across training seeds

    def load(self):
        from .tasks import load_task

        if not self.task:
            raise SettingsError("no task given; set task (ag_news, dbpedia_14, few_rel) in the config or with --task")
        data_files = self.task_data
        if data_files and "=" in data_files:
            data_files = dict(item.split("=", 1) for item in data_files.split(","))
        relations = self.relations
        if relations:
            relations = int(relations) if relations.isdigit() else relations.split(",")
        return load_task(
            self.task, data_files=data_files, train_per_label=self.train_per_label,
            test_per_label=self.test_per_label, seed=self.task_seed, relations=relations,
            entity_markers=self.entity_markers, text_column=self.text_column, label_column=self.label_column,
        )


@dataclass
class ModelSettings:
    """The architecture (a preset of the paper, or a config.json / model folder) and its tokenizer."""

    preset: str = "bert-6"
    config_overrides: str | None = None  # "hidden_size=32,num_hidden_layers=1"
    tokenizer: str | None = None  # folder or Hub id; default bert-base-uncased (or a pre-trained folder's)
    max_length: int = 128  # the paper truncates every text at 128 tokens

    def config(self, tokenizer, **extra):
        """The ConvBertConfig, with vocabulary size and special token ids taken from `tokenizer`."""
        from .configuration_conv_bert import PRESETS, ConvBertConfig

        overrides = {**parse_overrides(self.config_overrides), **extra}
        from_tokenizer = dict(
            vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id, mask_token_id=tokenizer.mask_token_id,
        )
        if self.preset in PRESETS:
            config = ConvBertConfig.from_preset(self.preset, **{**from_tokenizer, **overrides})
        elif Path(self.preset).exists():
            config = ConvBertConfig.from_pretrained(self.preset, **overrides)
        else:
            raise SettingsError(
                f"unknown preset {self.preset!r}; use one of {', '.join(PRESETS)} or a path to a config.json"
            )
        check_vocabulary(config, tokenizer)
        return config


def check_vocabulary(config, tokenizer) -> None:
    """Refuse a tokenizer whose ids do not index the model's embedding the way it was trained."""
    if len(tokenizer) != config.vocab_size:
        raise SettingsError(
            f"the tokenizer has {len(tokenizer)} tokens but the model's vocabulary has {config.vocab_size}; "
            "use the tokenizer the model was (pre-)trained with, or drop vocab_size so it is taken from the tokenizer"
        )
    for name in ("pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id"):
        model_id, tokenizer_id = getattr(config, name), getattr(tokenizer, name)
        if model_id is not None and tokenizer_id is not None and model_id != tokenizer_id:
            raise SettingsError(
                f"the model's {name} is {model_id} but the tokenizer's is {tokenizer_id}; "
                "use the tokenizer the model was (pre-)trained with"
            )
