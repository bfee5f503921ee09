"""The one vocabulary of settings: dataclasses for a corpus, a task, a subset, a model and each kind of run.

The training scripts and the `tlm` command build these same dataclasses (through `tlm_hf.arguments`), so a
setting has one name and one meaning everywhere: `--corpus_where split=train` means the same to `tlm stats`
as to `train/pretrain.py`. The library itself takes these dataclasses or plain values and parses no command
line. KEY=VALUE text (`corpus_where`, `task_data`, `config_overrides`, ...) has one parser,
`parse_key_values`.
"""

import ast
import dataclasses
import difflib
import logging
import types as types_
from dataclasses import dataclass, field
from pathlib import Path

from huggingface_hub.dataclasses import type_validator
from transformers import TrainingArguments

from .data.corpus import DEFAULT_SUBSET_SEED
from .data.subsets import DEFAULT_AVOID_FRACTION
from .errors import SettingsError

logger = logging.getLogger(__name__)
_TOLD_RUN_OPTIONS: set[str] = set()  # each deprecation line once per process


def _literal(text: str):
    """'32' -> 32, '1e-3' -> 0.001, 'true' -> True, 'null' -> None, 'gelu' -> 'gelu'.

    Only YAML's `null` means no value: `none` is a word settings take (`report_to=none`), kept as written.
    """
    lowered = text.strip().lower()
    if lowered in ("true", "false", "null"):
        return {"true": True, "false": False}.get(lowered)
    if lowered == "none":
        return text.strip()
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError):
        try:
            return float(text)
        except ValueError:
            return text.strip()


def parse_key_values(text: str | dict | None, *, setting: str, typed: bool = False) -> dict:
    """'a=1,b=x' -> {'a': '1', 'b': 'x'} (with `typed`, values become numbers and booleans where they are).

    `setting` names the setting in the error message. Empty text gives {}. A mapping (YAML's `{a: 1, b: x}`) means
    the same as its text, so that a file may write a KEY=VALUE setting either way.
    """
    if isinstance(text, dict):
        text = key_values_text(text, setting=setting)
    pairs = {}
    for item in (text or "").split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise SettingsError(f"{setting} expects KEY=VALUE[,KEY=VALUE], got {item.strip()!r}; e.g. {setting} a=1,b=2")
        pairs[key.strip()] = _literal(value) if typed else value.strip()
    return pairs


def key_values_text(values: dict, *, setting: str) -> str:
    """{'a': 1, 'b': None} -> 'a=1,b=null': a YAML mapping written as the KEY=VALUE text it stands for."""
    texts = []
    for key, value in values.items():
        text = "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
        if "," in text or isinstance(value, (dict, list)):
            raise SettingsError(f"{setting}: {key} is {value!r}; a KEY=VALUE setting takes one plain value per key "
                                f"(a number, a word or true/false)")
        texts.append(f"{key}={text}")
    return ",".join(texts)


def field_names(types) -> set[str]:
    return {f.name for t in types for f in dataclasses.fields(t)}


def refuse_unknown(keys, known, problem: str, fix: str) -> None:
    """Refuse the first key not in `known` in one line: `problem` (formatted with the key), then the nearest known
    name, or `fix` when none is near."""
    for key in keys:
        if key not in known:
            hint = difflib.get_close_matches(key, known, n=1)
            raise SettingsError(problem.format(key=key) + (f"did you mean {hint[0]!r}?" if hint else fix))


def check_settings(types, values: dict, where: str) -> None:
    """Refuse a key of `values` that is not a field of one of `types`, naming the nearest field, a value out of
    its setting's range (`check_ranges`), or a repeated entry of a list that counts each once (`check_distinct`)."""
    refuse_unknown(values, field_names(types), f"{where}: unknown setting {{key!r}}; ",
                   "remove it or check the spelling")
    check_ranges(values, where)
    check_distinct(values, where)


@dataclass(frozen=True)
class Range:
    """The numbers a setting allows: from `low` to `high` (None: unbounded), each end included unless `open`;
    `also` lists values allowed outside it (max_steps -1: off; w_s all)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    also: tuple = ()

    def __contains__(self, value) -> bool:
        if value in self.also:
            return True
        above = self.low is None or (value > self.low if self.low_open else value >= self.low)
        below = self.high is None or (value < self.high if self.high_open else value <= self.high)
        return above and below

    def __str__(self) -> str:
        if self.high is None:
            text = f"{'>' if self.low_open else '>='} {self.low}"
        else:
            text = f"in {'(' if self.low_open else '['}{self.low}, {self.high}{')' if self.high_open else ']'}"
        return text + "".join(f" or {value}" for value in self.also)


_POSITIVE, _NON_NEGATIVE, _COUNT = Range(0, low_open=True), Range(0), Range(1)
_SHARE, _DROPOUT = Range(0, 1, low_open=True), Range(0, 1, high_open=True)

# The ranges of TrainingArguments' numeric options, by name; each setting of this package carries its own (`setting`).
# All of them by name in RANGES (a name means the same everywhere; a list's values are checked one by one; None
# always passes: it means the default).
TRAINER_RANGES = {
    **dict.fromkeys(("learning_rate", "adam_epsilon", "num_train_epochs", "logging_steps", "save_steps",
                     "eval_steps"), _POSITIVE),
    **dict.fromkeys(("weight_decay", "warmup_steps", "max_grad_norm", "seed", "data_seed", "dataloader_num_workers",
                     "save_total_limit"), _NON_NEGATIVE),
    **dict.fromkeys(("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps"),
                    _COUNT),
    "max_steps": Range(1, also=(-1,)),
    **dict.fromkeys(("adam_beta1", "adam_beta2", "label_smoothing_factor"), _DROPOUT),
}


def setting(default=None, help: str = "", range: Range | None = None, *, factory=None):
    """A setting of this package, described in one place: its type and default (the dataclass field), its help
    text (HfArgumentParser's `metadata={"help": ...}`) and the numbers it allows (collected into RANGES)."""
    metadata = {"help": help, "range": range}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


# Settings of several commands (the same name means the same everywhere): their help and range, written once.
SHARED = {
    "avoid_fraction": dict(help="avoid: share of the task's tokens (T_C) kept out", range=_SHARE),
    "gpus_per_run": dict(range=Range(0), help="--launcher ray or slurm: GPUs of every run (default: ray 1 where the "
        "cluster has GPUs, slurm 0)"),
    "jobs": dict(help="runs at a time", range=_COUNT),
    "launcher": dict(help="how each run is started, e.g. python or 'accelerate launch --num_processes 2'; ray or "
        "slurm: each run a Ray task or a SLURM job (docs/cluster.md); slurm-local: submitit's local executor"),
    "min_count": dict(range=_COUNT, help="k of T_M_k and coverage_k: task tokens seen fewer than k times count as "
        "missing"),
    "num_proc": dict(help="worker processes for tokenising and filtering", range=_COUNT),
    "output_dir": dict(help="the output folder"),
    "ray_address": dict(help="--launcher ray: the Ray cluster to join (e.g. auto, or ray://HEAD:10001); default the "
        "local instance, started if none runs"),
    "recipe": dict(help="paper or fast: every other setting's default (fine-tuning: the pre-trained folder's recipe)"),
    "resume": dict(help="continue from the newest complete checkpoint in OUTPUT_DIR/checkpoints"),
    "scratch": dict(help="random initialisation, the 'without pre-training' arm (architecture of --pretrained or "
        "--preset)"),
    "slurm_partition": dict(help="--launcher slurm: the partition of every run's job (default the queue's)"),
    "slurm_time": dict(help="--launcher slurm: minutes each run's job may take", range=_COUNT),
    "subset": dict(help="how W_s paragraphs are chosen: random, custom (only task tokens) or avoid (raised T_M)"),
    "subset_seed": dict(range=_NON_NEGATIVE, help="seed of the random W_s paragraphs and of the held-out ones (the "
        "paper's: 42)"),
    "threads": dict(help="CPU threads of this run (torch.set_num_threads)", range=_COUNT),
    "threads_per_run": dict(help="CPU threads of each run", range=_COUNT),
    "w_s": dict(range=Range(1, also=("all",)), help="W_s, paragraphs to pre-train on (default: the whole corpus less "
        "its held-out part)"),
}


def check_ranges(values: dict, where: str | None = None) -> None:
    """Refuse, in one line naming the setting, the value and the allowed range, a value of `values` outside its
    setting's `RANGES` (numbers written as text, as YAML leaves `5e-5`, count as numbers)."""
    for name, given in values.items():
        allowed = RANGES.get(name)
        if allowed is None or given is None:
            continue
        for value in given if isinstance(given, (list, tuple)) else [given]:
            if value in allowed.also:
                continue
            number = value
            if isinstance(value, str):
                try:
                    number = float(value)
                except ValueError:
                    number = None
            if isinstance(number, bool) or not isinstance(number, (int, float)):
                raise SettingsError(f"{where + ': ' if where else ''}{name} {value!r} is not a number; "
                                    f"give a number {allowed}")
            if number not in allowed:
                raise SettingsError(f"{where + ': ' if where else ''}{name} {value} is out of range; "
                                    f"it must be {allowed}")


# Lists whose entries are the units of a statistic (a mean over seeds, its spread, a t-interval, "fewer than 3
# seeds is inconclusive"): a repeated entry would count one run as several.
DISTINCT = ("seeds",)


def refuse_repeats(name: str, values, where: str | None = None) -> None:
    """Refuse, in one line, a list that holds an entry twice: `--seeds 0 0 0` is one seed, not three."""
    values = list(values or ())
    repeated = next((value for index, value in enumerate(values) if value in values[:index]), None)
    if repeated is not None:
        flag = name if name.startswith("-") else f"--{name}"
        example = (f" (e.g. {flag} {' '.join(map(str, range(len(values))))})"
                   if all(isinstance(value, int) for value in values) else "")
        raise SettingsError(f"{where + ': ' if where else ''}{name} {repeated} is given {values.count(repeated)} "
                            f"times; each entry counts once in the results, so give distinct values{example}")


def check_distinct(values: dict, where: str | None = None) -> None:
    """`refuse_repeats` for every setting of `values` in DISTINCT."""
    for name in DISTINCT:
        if isinstance(values.get(name), (list, tuple)):
            refuse_repeats(name, values[name], where)


ATTENTION_IMPLEMENTATIONS = (None, "sdpa", "eager")  # the two the equivalence tests compare (None: transformers')


def check_together(values: dict, where: str | None = None) -> None:
    """Settings that need each other, checked on a run's complete settings before anything loads."""
    if values.get("learning_rates") and not values.get("validation_per_label"):  # the one place this rule is written
        raise SettingsError(f"{where + ': ' if where else ''}choosing among learning_rates needs a validation "
                            "split; set validation_per_label (e.g. --validation_per_label 100)")
    if values.get("attn_implementation") not in ATTENTION_IMPLEMENTATIONS:
        raise SettingsError(f"{where + ': ' if where else ''}attn_implementation {values['attn_implementation']!r} is "
                            f"not one this model offers; use {' or '.join(filter(None, ATTENTION_IMPLEMENTATIONS))}")


def check_parsed(parsed) -> None:
    """`check_ranges` and `check_together` on the settings of one run, as parsed into dataclasses."""
    values = {}
    for part in parsed:
        values.update({f.name: getattr(part, f.name) for f in dataclasses.fields(part) if f.name in RANGES})
        values.update({name: getattr(part, name) for name in ("learning_rates", "validation_per_label",
                                                              "attn_implementation")
                       if hasattr(part, name)})
    check_ranges(values)
    check_distinct(values)
    check_together(values)


@dataclass
class CorpusSettings:
    """The pre-training corpus: a Hub dataset or local files, one paragraph per row after loading."""

    corpus: str = setting("wikimedia/wikipedia", help="your text file (.txt: a paragraph per line; "
                          ".jsonl/.csv/.parquet: a text column; .gz too), a Hub dataset id, or sample:wikitext2")
    corpus_config: str | None = setting(None, help="the Hub dataset's configuration (wikimedia/wikipedia: default "
                                        "20231101.en)")
    corpus_split: str = setting("train", help="the Hub dataset's split to read")
    corpus_text_field: str = setting("text", help="the column holding the text")
    corpus_where: str | None = setting(None, help="keep only rows whose columns hold these values, "
                                       "KEY=VALUE[,KEY=VALUE] (e.g. split=train)")
    normalize_wikitext: bool = setting(False, help="undo WikiText's ' @-@ ' joiners and <unk> (for WikiText files)")
    min_chars: int = setting(1, range=_NON_NEGATIVE, help="drop paragraphs shorter than this many characters")

    def load(self, num_proc=None):
        from .data.corpus import load_paragraphs

        where = parse_key_values(self.corpus_where, setting="corpus_where") or None
        return load_paragraphs(
            self.corpus, config=self.corpus_config, split=self.corpus_split, text_field=self.corpus_text_field,
            normalize_wikitext=self.normalize_wikitext, min_chars=self.min_chars, where=where, num_proc=num_proc,
        )


@dataclass
class TaskSettings:
    """A classification task of the registry (or any Hub dataset with its columns), sampled per label."""

    task: str | None = setting(None, help="ag_news, dbpedia_14, few_rel, a Hub dataset id, or any name (default: the "
                               "--task_data file's name)")
    task_data: str | None = setting(None, help="your own labelled examples: FILE (.csv/.jsonl/...; split per label "
                                    "into train and test), or train=FILE,test=FILE; columns text,label need no "
                                    "column flags")
    train_per_label: int | None = setting(None, range=_COUNT, help="training examples per label (default: the "
                                          "paper's; for your file, what test leaves)")
    test_per_label: int | None = setting(None, range=_COUNT, help="test examples per label (needed when one file is "
                                         "split into train and test)")
    # a validation split carved from the training examples (choosing lr)
    validation_per_label: int | None = setting(None, range=_COUNT, help="validation examples per label, on top of "
                                               "train_per_label (for choosing the learning rate)")
    relations: str | None = setting(None, help="few_rel: relation ids P17,P22,..., or a number of relations drawn by "
                                    "task_seed")
    entity_markers: bool = setting(False, help="few_rel: wrap head and tail in [E1] ... [/E1] and [E2] ... [/E2]")
    text_column: str | None = setting(None, help="the task's text column (default: text, or the longer of two columns)")
    label_column: str | None = setting(None, help="the task's label column (default: label, or the other of two "
                                       "columns)")
    task_seed: int = setting(42, range=_NON_NEGATIVE, help="which examples form train, test and validation (fixed "
                             "across training seeds)")

    def resolve_name(self) -> str | None:
        """The task's name: --task, else the task file's name (mytopics.csv -> mytopics), which the run files
        then record; a name given this way is never taken for a Hub dataset id."""
        if not self.task and self.task_data:
            from .data.files import task_file_name

            self.task = task_file_name(self.task_data)
        elif self.task:
            self.check_name()
        return self.task

    def check_name(self) -> None:
        """Refuse a --task a letter or two from a known task's: `ag_newz` would read AG News files as the user's own
        data, with labels '0'..'3' instead of World, Sports, ... (the name of the task file itself is accepted: an
        experiment passes it on to its runs)."""
        from .data.files import task_file_name
        from .data.tasks import TASKS

        if not self.task_data or self.task in TASKS or task_file_name(self.task_data) == self.task:
            return  # without files, load_task refuses an unknown name itself
        near = difflib.get_close_matches(self.task, TASKS, n=1, cutoff=0.8)
        if near and "/" not in self.task:
            raise SettingsError(
                f"--task {self.task!r} is no known task; did you mean {near[0]!r}? (any other name reads --task_data "
                f"as your own data, with its own labels); give --task {near[0]}, or a name of your own data that is "
                "not so close to a known task"
            )

    def load(self):
        from .data.tasks import load_task

        if not self.resolve_name():
            raise SettingsError("no task given; give --task_data FILE (your own csv/jsonl), or --task ag_news, "
                                "dbpedia_14 or few_rel")
        data_files = self.task_data or None
        if data_files and "=" in data_files:
            data_files = parse_key_values(data_files, setting="task_data")
        relations = self.relations
        if relations:
            relations = int(relations) if relations.isdigit() else relations.split(",")
        return load_task(
            self.task, data_files=data_files, train_per_label=self.train_per_label,
            test_per_label=self.test_per_label, validation_per_label=self.validation_per_label, seed=self.task_seed,
            relations=relations, entity_markers=self.entity_markers, text_column=self.text_column,
            label_column=self.label_column,
        )


@dataclass
class SubsetSettings:
    """How the W_s pre-training paragraphs are chosen from the corpus (see `tlm_hf.data.subsets`)."""

    subset: str = setting("random", **SHARED["subset"])
    w_s: int | None = setting(None, **SHARED["w_s"])
    subset_seed: int = setting(DEFAULT_SUBSET_SEED, **SHARED["subset_seed"])
    avoid_fraction: float = setting(DEFAULT_AVOID_FRACTION, **SHARED["avoid_fraction"])
    # kept, or shuffled: the words of each chosen paragraph in a random order (drawn from subset_seed), the control
    # that keeps every word count and destroys word order (what pre-training learns beyond word statistics)
    word_order: str = setting("kept", help="shuffled: the words of each paragraph reordered")

    def build(self, paragraphs, task, tokenizer, *, num_proc=None):
        from .data.corpus import shuffle_words
        from .data.subsets import WORD_ORDERS, build_subset

        if self.word_order not in WORD_ORDERS:
            raise SettingsError(f"word_order {self.word_order!r} is not one of {', '.join(WORD_ORDERS)}")
        if self.subset == "random" and self.w_s is None:
            subset = paragraphs  # the whole corpus
        else:
            subset = build_subset(
                self.subset, paragraphs, task, tokenizer, w_s=self.w_s, seed=self.subset_seed,
                avoid_fraction=self.avoid_fraction, num_proc=num_proc,
            )
        return shuffle_words(subset, self.subset_seed) if self.word_order == "shuffled" else subset


@dataclass
class TokenizerSettings:
    tokenizer: str | None = setting(None, help="tokenizer folder, Hub id or sample:bert-base-uncased (default: "
                                    "bert-base-uncased, or the pre-trained folder's)")

    def load(self, default: str = "bert-base-uncased"):
        from .data.tokenizer import load_tokenizer

        return load_tokenizer(self.tokenizer or default)


@dataclass
class ModelSettings:
    """The architecture: a preset of the paper, or a config.json / model folder, with fields overridden."""

    preset: str = setting("bert-6", help="the architecture: a preset (bert-6, bert-1, ...) or a config.json / model "
                          "folder")
    config_overrides: str | None = setting(None, help="model config fields to change, KEY=VALUE[,KEY=VALUE] (e.g. "
                                           "hidden_size=128,num_hidden_layers=2)")
    max_length: int = setting(128, range=_COUNT, help="texts are truncated at this many tokens (the paper's 128)")
    # attention of the encoder's blocks: None or "sdpa" (transformers' default), or "eager", the same arithmetic
    # in other kernels (on a CPU without AMX, torch's bf16 SDPA backward is slow: docs/benchmarks.md)
    attn_implementation: str | None = setting(None, help="sdpa (the default) or eager, faster in bf16 on a CPU "
                                              "without AMX")
    # speed switches of the model (ConvBertConfig.RUN_OPTIONS): how the run computes, not the model it saves; the same
    # outputs for real tokens, other dropout masks and last digits in training (docs/runs-and-model-options.md)
    unpad_tokens: bool | None = setting(None, help="speed: blocks skip padding (a run setting: not saved)")
    fast_dropout: bool | None = setting(None, help="speed: cheaper dropout masks on a CPU (not saved)")

    def run_options(self) -> dict:
        """The speed switches that were set, as config attributes (config_overrides' old spelling included)."""
        from .models.configuration_conv_bert import ConvBertConfig

        overrides = self.overrides()
        options = {name: overrides[name] for name in ConvBertConfig.RUN_OPTIONS if name in overrides}
        return {**options, **{name: getattr(self, name) for name in ConvBertConfig.RUN_OPTIONS
                              if getattr(self, name) is not None}}

    def overrides(self) -> dict:
        """config_overrides as typed values; a key that is not a ConvBertConfig field is refused, naming the nearest,
        and so is a value not of its field's type (the check the config runs when it is built, here in one line).
        A key set to null is left out: it keeps its default (the preset's, or the folder's)."""
        from .models.configuration_conv_bert import ConvBertConfig

        overrides = parse_key_values(self.config_overrides, setting="config_overrides", typed=True)
        fields = {f.name: f.type for f in dataclasses.fields(ConvBertConfig)}
        for name in ConvBertConfig.RUN_OPTIONS:  # model fields until 0.1: still accepted, with one line
            fields[name] = bool
            if name in overrides and name not in _TOLD_RUN_OPTIONS:
                _TOLD_RUN_OPTIONS.add(name)
                logger.warning(f"config_overrides {name}=... is a run setting now, not a model field: "
                               f"use --{name} {str(overrides[name]).lower()}")
        refuse_unknown(overrides, {*fields, "num_labels"}, "config_overrides: {key!r} is not a field of the model's "
                       "config; ", "check the spelling (see ConvBertConfig)")
        overrides = {key: value for key, value in overrides.items() if value is not None}  # null: the default
        for key, value in overrides.items():
            try:
                type_validator(key, value, fields.get(key, int))  # num_labels, not a field: an int
            except TypeError as err:
                raise SettingsError(f"config_overrides: {err}; give a value of that type") from None
        return overrides

    def check_max_length(self, config) -> None:
        """Texts are truncated at max_length tokens: no more than the model has positions."""
        if self.max_length > config.max_position_embeddings:
            raise SettingsError(
                f"max_length {self.max_length} is beyond the model's {config.max_position_embeddings} positions "
                f"(max_position_embeddings); lower --max_length, or give a new model "
                f"--config_overrides max_position_embeddings={self.max_length}"
            )

    def check(self) -> None:
        """Everything `config` checks that needs no tokenizer: preset, overrides, max_length (for plans of runs)."""
        from .models.configuration_conv_bert import PRESETS, ConvBertConfig

        overrides = self.overrides()
        if self.preset in PRESETS:  # special token ids: stand-ins here, the tokenizer's when the run builds it
            stand_ins = dict(pad_token_id=0, cls_token_id=1, sep_token_id=2, mask_token_id=3)
            try:
                config = ConvBertConfig.from_preset(self.preset, **{**stand_ins, **overrides})
            except ValueError as err:
                raise SettingsError(str(err)) from None
            self.check_max_length(config)
        elif not Path(self.preset).exists():
            raise SettingsError(f"unknown preset {self.preset!r}; use one of {', '.join(PRESETS)} or a path to a config.json")

    def config(self, tokenizer, **extra):
        """The ConvBertConfig, with vocabulary size and special token ids taken from `tokenizer`.

        Sparse MLM prediction is on (only labelled positions reach the vocabulary projection: what pre-training
        evaluates and pays for); `config_overrides sparse_prediction=false` turns it off."""
        from .data.tokenizer import check_special_tokens, match_tokenizer
        from .models.configuration_conv_bert import PRESETS, ConvBertConfig

        check_special_tokens(tokenizer)  # the config takes their ids
        overrides = {"sparse_prediction": True, **self.overrides(), **self.run_options(), **extra}
        if self.attn_implementation:
            overrides["attn_implementation"] = self.attn_implementation
        from_tokenizer = dict(
            vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, cls_token_id=tokenizer.cls_token_id,
            sep_token_id=tokenizer.sep_token_id, mask_token_id=tokenizer.mask_token_id,
        )
        if self.preset in PRESETS:
            try:
                config = ConvBertConfig.from_preset(self.preset, **{**from_tokenizer, **overrides})
            except ValueError as err:  # the config's own check of its fields: a mistake in preset or overrides
                raise SettingsError(str(err)) from None
        elif Path(self.preset).exists():
            try:
                config = ConvBertConfig.from_pretrained(self.preset, **overrides)
            except (OSError, ValueError) as err:
                raise SettingsError(f"cannot read the preset {self.preset}: {str(err).strip().splitlines()[0]}") from None
        else:
            raise SettingsError(
                f"unknown preset {self.preset!r}; use one of {', '.join(PRESETS)} or a path to a config.json"
            )
        match_tokenizer(config, tokenizer)  # and the tokenizer takes the model's maximum length
        self.check_max_length(config)
        return config


# --- one dataclass per script, beside the shared ones above -------------------------------------------------


@dataclass
class PretrainSettings:
    # a name in tlm_hf.training.recipes.RECIPES: the defaults of every other setting
    recipe: str = setting("paper", **SHARED["recipe"])
    mlm_probability: float = setting(0.15, range=_SHARE, help="share of tokens masked for the MLM loss")
    # held-out MLM evaluation: paragraphs never pre-trained on, drawn by subset_seed from outside W_s (at most a
    # tenth of the corpus), or taken from the corpus rows matching heldout_where (e.g. split=valid); 0: none
    heldout_size: int = setting(500, range=_NON_NEGATIVE, help="paragraphs held out for the MLM evaluation (at most "
                                "a tenth of the corpus); 0: none")
    heldout_where: str | None = setting(None, help="take the held-out paragraphs from the corpus rows matching "
                                        "KEY=VALUE (e.g. split=valid)")
    # BLiMP at every held-out evaluation, on this many minimal pairs per paradigm of the bundled sample (at most 100;
    # 67 paradigms): grammar appearing as the MLM leaves its plateau (tlm_hf.evaluation.blimp); 0: none
    blimp_pairs_per_paradigm: int = setting(0, range=_NON_NEGATIVE, help="BLiMP minimal pairs per paradigm (67 "
                                            "paradigms) scored at each evaluation: grammar appearing as the MLM "
                                            "leaves its plateau; 0: none")
    # train a WordPiece vocabulary of at most this size on W_s, instead of --tokenizer; 0: none (turns off a recipe's)
    wordpiece_vocab_size: int | None = setting(None, range=Range(0), help="train a WordPiece vocabulary of this size "
                                               "on the W_s paragraphs, instead of --tokenizer")
    # dropout while pre-training (None: the architecture's); the saved config keeps the architecture's for fine-tuning
    pretraining_dropout: float | None = setting(None, range=_DROPOUT, help="dropout while pre-training (the saved "
                                                "model keeps the architecture's for fine-tuning)")
    num_proc: int | None = setting(None, **SHARED["num_proc"])
    resume: bool = setting(False, **SHARED["resume"])
    threads: int | None = setting(None, **SHARED["threads"])


@dataclass
class FinetuneSettings:
    recipe: str = setting("paper", **SHARED["recipe"])
    pretrained: str | None = setting(None, help="the folder tlm pretrain wrote: fine-tune its encoder (and use its "
                                     "tokenizer)")
    scratch: bool = setting(False, **SHARED["scratch"])
    # choose the learning rate among these on the validation split (validation_per_label), then report the
    # chosen model's test accuracy; empty: train once with learning_rate, test accuracy after every epoch
    learning_rates: list[float] = setting(factory=list, range=_POSITIVE, help="choose the learning rate among these "
                                          "on the validation split (needs validation_per_label), then report the "
                                          "chosen model's test accuracy")
    # with learning_rates: keep each candidate's epoch with the best validation accuracy (validated every epoch),
    # not its last, and choose the (learning rate, epoch) pair on validation; the test split still counts once
    select_epoch: bool = setting(False, help="with learning_rates: keep the epoch with the best validation accuracy, "
                                 "not the last")
    resume: bool = setting(False, **SHARED["resume"])
    threads: int | None = setting(None, **SHARED["threads"])


@dataclass
class LaunchSettings:
    """How a plan's runs start (an experiment's, a committee's members): how many at once, with how many threads,
    and where. None of it changes a number of a run, so none of it is part of a run's cache key."""

    # runs at once (independent ones: seeds, arms, rows, members); 2 on a 2-core CPU for small models
    jobs: int = setting(1, **SHARED["jobs"])
    # CPU threads of every run, fixed so that --jobs changes no number
    threads_per_run: int = setting(1, **SHARED["threads_per_run"])
    launcher: str = setting("python", **SHARED["launcher"])
    # ray or slurm: each run a Ray task or a SLURM job (docs/cluster.md), slurm-local: submitit's local executor
    ray_address: str | None = setting(None, **SHARED["ray_address"])
    slurm_partition: str | None = setting(None, **SHARED["slurm_partition"])
    slurm_time: int = setting(240, **SHARED["slurm_time"])
    gpus_per_run: int | None = setting(None, **SHARED["gpus_per_run"])


@dataclass
class CommitteeSettings(LaunchSettings):
    """tlm committee: members fine-tuned on one task, their logits summed."""

    recipe: str = setting("paper", **SHARED["recipe"])
    members: list[str] = setting(factory=list, help="committee: the pre-trained MLM folders of its members (with "
                                 "--scratch: presets or folders)")
    scratch: bool = setting(False, **SHARED["scratch"])
    reference: str | None = setting(None, help="committee: a tlm finetune folder to compare against")


@dataclass
class ExperimentSettings(LaunchSettings):
    """tlm experiment: rows of W_s, two arms, seeds; the children's settings come from the recipe."""

    output_dir: str | None = setting(None, **SHARED["output_dir"])
    recipe: str = setting("paper", **SHARED["recipe"])
    # -- rows: one per entry of w_s; subset, learning_rate and weight_decay per row, or one value for all
    # "all": every paragraph passing a custom/avoid filter
    w_s: list[str] = setting(factory=lambda: ["5000"], **SHARED["w_s"])
    subset: list[str] = setting(factory=lambda: ["random"], **SHARED["subset"])
    # fine-tuning the pre-trained arm; default the recipe's
    learning_rate: list[float] = setting(factory=list, range=_POSITIVE, help="peak learning rate of this run's "
                                         "training (the recipe's unless set)")
    weight_decay: list[float] = setting(factory=list, range=_NON_NEGATIVE, help="AdamW weight decay (the recipe's "
                                        "unless set)")
    scratch_learning_rate: float | None = setting(None, range=_POSITIVE, help="learning rate of the scratch arm "
                                                  "(default the recipe's fine-tuning one)")
    scratch_weight_decay: float | None = setting(
        None, range=_NON_NEGATIVE, help="weight decay of the scratch arm (default the recipe's)")
    seeds: list[int] = setting(
        factory=lambda: [0, 1, 2, 3, 4], range=_NON_NEGATIVE, help="fine-tuning seeds (the paper: at least 5)")
    # choose each fine-tuning's learning rate among these on the validation split (validation_per_label), the
    # same grid for both arms; empty: the per-row learning_rate / scratch_learning_rate as in the paper
    learning_rates: list[float] = setting(
        factory=list, range=_POSITIVE, help="choose each fine-tuning's learning rate among these on the validation "
        "split (needs validation_per_label), the same grid for both arms")
    subset_seed: int = setting(DEFAULT_SUBSET_SEED, **SHARED["subset_seed"])
    avoid_fraction: float = setting(DEFAULT_AVOID_FRACTION, **SHARED["avoid_fraction"])
    # pre-trainings per row, one per seed: each its training seed and subset seed (its own W_s paragraphs, its own
    # vocabulary and so its own scratch twin); empty: one pre-training with subset_seed and the recipe's seed
    pretrain_seeds: list[int] = setting(factory=list, range=_NON_NEGATIVE, help="pre-trainings per row, one per seed "
                                        "(training seed and subset seed): the unit of inference")
    # a third arm per pre-training: the same paragraphs with the words of each shuffled (word_order shuffled),
    # fine-tuned with the same seeds and compared with the same scratch twin
    shuffled_control: bool = setting(False, help="a third arm per pre-training: the same paragraphs with each one's "
                                     "words shuffled")
    # -- the recipe's values unless set
    pretrain_epochs: float | None = setting(None, range=_POSITIVE, help="pre-training epochs (default the recipe's)")
    pretrain_learning_rate: float | None = setting(None, range=_POSITIVE, help="pre-training learning rate (default "
                                                   "the recipe's)")
    pretrain_weight_decay: float | None = setting(
        None, range=_NON_NEGATIVE, help="pre-training weight decay (default the recipe's)")
    finetune_epochs: float | None = setting(None, range=_POSITIVE, help="fine-tuning epochs (default the recipe's)")
    batch_size: int | None = setting(None, range=_COUNT, help="training batch size of every run (default the recipe's)")
    # any other setting of the children, KEY=VALUE[,KEY=VALUE]: checked against the pre-training's and
    # fine-tuning's settings before anything runs, and part of every run's cache key
    # e.g. "warmup_ratio=0.1,mlm_probability=0.3"
    pretrain_args: str | None = setting(None, help="any other pre-training setting for every pre-training, "
                                        "KEY=VALUE[,KEY=VALUE]")
    finetune_args: str | None = setting(None, help="any other fine-tuning setting for every fine-tune, "
                                        "KEY=VALUE[,KEY=VALUE]")
    dry_run: bool = setting(False, help="list the runs (cached or to start) and their folders; start nothing")


@dataclass
class StatsSettings:
    """`tlm stats`: what to print."""

    min_count: int = setting(10, **SHARED["min_count"])
    json: bool = setting(False, help="print JSON instead of a table")
    num_proc: int | None = setting(None, **SHARED["num_proc"])


@dataclass
class SubsetOutputSettings:
    """`tlm subset`: where the chosen paragraphs go."""

    # replaced in one step; holds stats.json too
    output_dir: str | None = setting(None, **SHARED["output_dir"])
    format: str = setting("datasets", help="datasets (load_from_disk) or jsonl")
    min_count: int = setting(10, **SHARED["min_count"])
    num_proc: int | None = setting(None, **SHARED["num_proc"])


# The settings of each script, in the order its parser returns them.
@dataclass
class CompareSettings:
    variants: str | None = setting(None, help="compare: a YAML file whose `variants:` list what each variant changes "
                                   "(name, pretrain_args, config_overrides)")


def _ranges(*types) -> dict:
    """Every setting's range by name (a name means one thing: one range), taken out of the fields' metadata, which
    HfArgumentParser hands to argparse whole: there only the help text may stay."""
    ranges = dict(TRAINER_RANGES)
    for kind in types:
        for f in dataclasses.fields(kind):
            if "range" not in f.metadata:
                continue
            allowed = f.metadata["range"]
            if allowed is not None:
                assert ranges.get(f.name, allowed) == allowed, f.name
                ranges[f.name] = allowed
            f.metadata = types_.MappingProxyType({k: v for k, v in f.metadata.items() if k != "range"})
    return ranges


RANGES = _ranges(CorpusSettings, TaskSettings, SubsetSettings, TokenizerSettings, ModelSettings, PretrainSettings,
                 FinetuneSettings, CommitteeSettings, ExperimentSettings, StatsSettings, SubsetOutputSettings,
                 CompareSettings)

PRETRAIN_SETTINGS = (PretrainSettings, SubsetSettings, CorpusSettings, TaskSettings, ModelSettings, TokenizerSettings,
                     TrainingArguments)
FINETUNE_SETTINGS = (FinetuneSettings, TaskSettings, ModelSettings, TokenizerSettings, TrainingArguments)
COMMITTEE_SETTINGS = (CommitteeSettings, TaskSettings, ModelSettings, TokenizerSettings, TrainingArguments)
EXPERIMENT_SETTINGS = (ExperimentSettings, CorpusSettings, TaskSettings, ModelSettings, TokenizerSettings)
COMPARE_SETTINGS = (CompareSettings, *EXPERIMENT_SETTINGS)
STATS_SETTINGS = (StatsSettings, SubsetSettings, CorpusSettings, TaskSettings, TokenizerSettings)
SUBSET_SETTINGS = (SubsetOutputSettings, SubsetSettings, CorpusSettings, TaskSettings, TokenizerSettings)
