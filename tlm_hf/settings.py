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

# The range of every numeric setting of the scripts, the `tlm` command and experiment plans, TrainingArguments'
# included, by name (a name means the same everywhere; a list's values are checked one by one). None always
# passes: it means the default.
RANGES = {
    # optimisation (TrainingArguments, the experiment's per-arm values, fine-tuning's learning-rate choice)
    **dict.fromkeys(("learning_rate", "learning_rates", "learning_rate_grid", "scratch_learning_rate",
                     "pretrain_learning_rate", "adam_epsilon", "num_train_epochs", "pretrain_epochs",
                     "finetune_epochs", "logging_steps", "save_steps", "eval_steps"), _POSITIVE),
    **dict.fromkeys(("weight_decay", "scratch_weight_decay", "pretrain_weight_decay", "warmup_steps",
                     "max_grad_norm", "seed", "seeds", "pretrain_seeds", "data_seed", "task_seed", "subset_seed",
                     "dataloader_num_workers", "heldout_size", "min_chars", "save_total_limit",
                     "blimp_pairs_per_paradigm"), _NON_NEGATIVE),
    **dict.fromkeys(("per_device_train_batch_size", "per_device_eval_batch_size", "gradient_accumulation_steps",
                     "batch_size", "num_proc", "min_count", "max_length", "threads", "jobs", "threads_per_run", "train_per_label",
                     "test_per_label", "validation_per_label", "slurm_time"), _COUNT),
    "max_steps": Range(1, also=(-1,)),
    "w_s": Range(1, also=("all",)),
    **dict.fromkeys(("adam_beta1", "adam_beta2", "label_smoothing_factor", "pretraining_dropout"), _DROPOUT),
    "mlm_probability": _SHARE,
    "avoid_fraction": _SHARE,
    "gpus_per_run": Range(0),
    "wordpiece_vocab_size": Range(0),  # 0: no WordPiece training (turns off the fast recipe's)
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
    grid = next((name for name in ("learning_rates", "learning_rate_grid") if values.get(name)), None)
    if grid and not values.get("validation_per_label"):  # the one place this rule is written
        raise SettingsError(f"{where + ': ' if where else ''}choosing among {grid} needs a validation "
                            "split; set validation_per_label (e.g. --validation_per_label 100)")
    if values.get("attn_implementation") not in ATTENTION_IMPLEMENTATIONS:
        raise SettingsError(f"{where + ': ' if where else ''}attn_implementation {values['attn_implementation']!r} is "
                            f"not one this model offers; use {' or '.join(filter(None, ATTENTION_IMPLEMENTATIONS))}")


def check_parsed(parsed) -> None:
    """`check_ranges` and `check_together` on the settings of one run, as parsed into dataclasses."""
    values = {}
    for part in parsed:
        values.update({f.name: getattr(part, f.name) for f in dataclasses.fields(part) if f.name in RANGES})
        values.update({name: getattr(part, name) for name in ("learning_rates", "learning_rate_grid",
                                                              "validation_per_label", "attn_implementation")
                       if hasattr(part, name)})
    check_ranges(values)
    check_distinct(values)
    check_together(values)


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
        from .data.corpus import load_paragraphs

        where = parse_key_values(self.corpus_where, setting="corpus_where") or None
        return load_paragraphs(
            self.corpus, config=self.corpus_config, split=self.corpus_split, text_field=self.corpus_text_field,
            normalize_wikitext=self.normalize_wikitext, min_chars=self.min_chars, where=where, num_proc=num_proc,
        )


@dataclass
class TaskSettings:
    """A classification task of the registry (or any Hub dataset with its columns), sampled per label."""

    task: str | None = None  # ag_news, dbpedia_14, few_rel
    task_data: str | None = None  # local files: "train=FILE,test=FILE", or one FILE (or train=FILE alone) split per label
    train_per_label: int | None = None  # default: the paper's
    test_per_label: int | None = None
    validation_per_label: int | None = None  # a validation split carved from the training examples (choosing lr)
    relations: str | None = None  # few_rel: "P17,P22,..." or a count drawn by task_seed
    entity_markers: bool = False
    text_column: str | None = None
    label_column: str | None = None
    task_seed: int = 42  # which examples form train and test; fixed across training seeds

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

    subset: str = "random"  # random: W_s paragraphs by seed; custom: only task tokens; avoid: raised T_M
    w_s: int | None = None  # W_s, paragraphs to pre-train on (random: default the whole corpus; custom/avoid: all that pass)
    subset_seed: int = DEFAULT_SUBSET_SEED
    avoid_fraction: float = DEFAULT_AVOID_FRACTION  # avoid: share of the task's tokens (T_C) kept out of the subset
    # kept, or shuffled: the words of each chosen paragraph in a random order (drawn from subset_seed), the control
    # that keeps every word count and destroys word order (what pre-training learns beyond word statistics)
    word_order: str = "kept"

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
    tokenizer: str | None = None  # folder or Hub id; default bert-base-uncased (or a pre-trained folder's)

    def load(self, default: str = "bert-base-uncased"):
        from .data.tokenizer import load_tokenizer

        return load_tokenizer(self.tokenizer or default)


@dataclass
class ModelSettings:
    """The architecture: a preset of the paper, or a config.json / model folder, with fields overridden."""

    preset: str = "bert-6"
    config_overrides: str | None = None  # "hidden_size=32,num_hidden_layers=1"
    max_length: int = 128  # the paper truncates every text at 128 tokens
    # attention of the encoder's blocks: None or "sdpa" (transformers' default), or "eager", the same arithmetic
    # in other kernels (on a CPU without AMX, torch's bf16 SDPA backward is slow: docs/benchmarks.md)
    attn_implementation: str | None = None
    # speed switches of the model (ConvBertConfig.RUN_OPTIONS): how the run computes, not the model it saves; the same
    # outputs for real tokens, other dropout masks and last digits in training (docs/runs-and-model-options.md)
    unpad_tokens: bool | None = None
    fast_dropout: bool | None = None

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
    recipe: str = "paper"  # a name in tlm_hf.training.recipes.RECIPES: the defaults of every other setting
    mlm_probability: float = 0.15
    # held-out MLM evaluation: paragraphs never pre-trained on, drawn by subset_seed from outside W_s (at most a
    # tenth of the corpus), or taken from the corpus rows matching heldout_where (e.g. split=valid); 0: none
    heldout_size: int = 500
    heldout_where: str | None = None
    # BLiMP at every held-out evaluation, on this many minimal pairs per paradigm of the bundled sample (at most 100;
    # 67 paradigms): grammar appearing as the MLM leaves its plateau (tlm_hf.evaluation.blimp); 0: none
    blimp_pairs_per_paradigm: int = 0
    # train a WordPiece vocabulary of at most this size on W_s, instead of --tokenizer; 0: none (turns off a recipe's)
    wordpiece_vocab_size: int | None = None
    # dropout while pre-training (None: the architecture's); the saved config keeps the architecture's for fine-tuning
    pretraining_dropout: float | None = None
    num_proc: int | None = None  # worker processes for tokenising
    resume: bool = False  # continue from the newest checkpoint in OUTPUT_DIR/checkpoints
    threads: int | None = None  # CPU threads of this run (torch.set_num_threads); experiments fix it


@dataclass
class FinetuneSettings:
    recipe: str = "paper"
    pretrained: str | None = None  # folder written by tlm pretrain
    scratch: bool = False  # random initialisation: the "without pre-training" arm
    # choose the learning rate among these on the validation split (validation_per_label), then report the
    # chosen model's test accuracy; empty: train once with learning_rate, test accuracy after every epoch
    learning_rates: list[float] = field(default_factory=list)
    # with learning_rates: keep each candidate's epoch with the best validation accuracy (validated every epoch),
    # not its last, and choose the (learning rate, epoch) pair on validation; the test split still counts once
    select_epoch: bool = False
    resume: bool = False  # continue from the newest checkpoint in OUTPUT_DIR/checkpoints
    threads: int | None = None  # CPU threads of this run (torch.set_num_threads); experiments fix it


@dataclass
class CommitteeSettings:
    recipe: str = "paper"
    members: list[str] = field(default_factory=list)  # pre-trained MLM folders; with scratch, presets or folders
    scratch: bool = False  # random initialisation: the "without pre-training" committee of Table 9
    reference: str | None = None  # a tlm finetune output folder (BERT-6) to compare against
    jobs: int = 1  # members fine-tuned at once
    threads_per_run: int = 1  # CPU threads of every member's run, fixed so that --jobs changes no number
    launcher: str = "python"  # or e.g. "accelerate launch": each member then starts its own process; ray, slurm
    ray_address: str | None = None  # --launcher ray: the cluster to join; default the local one (started if none)
    slurm_partition: str | None = None  # --launcher slurm: the partition of every run's job; default the queue's
    slurm_time: int = 240  # --launcher slurm: minutes each run's job may take
    gpus_per_run: int | None = None  # ray, slurm: GPUs of every run; default ray 1 where the cluster has GPUs, slurm 0


@dataclass
class ExperimentSettings:
    """tlm experiment: rows of W_s, two arms, seeds; the children's settings come from the recipe."""

    output_dir: str | None = None
    recipe: str = "paper"
    # -- rows: one per entry of w_s; subset, learning_rate and weight_decay per row, or one value for all
    w_s: list[str] = field(default_factory=lambda: ["5000"])  # "all": every paragraph passing a custom/avoid filter
    subset: list[str] = field(default_factory=lambda: ["random"])  # random, custom or avoid
    learning_rate: list[float] = field(default_factory=list)  # fine-tuning the pre-trained arm; default the recipe's
    weight_decay: list[float] = field(default_factory=list)
    scratch_learning_rate: float | None = None  # the W_s = 0 row of the appendix tables; default the recipe's
    scratch_weight_decay: float | None = None
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])  # fine-tuning seeds, >= 5 in the paper
    # choose each fine-tuning's learning rate among these on the validation split (validation_per_label), the
    # same grid for both arms; empty: the per-row learning_rate / scratch_learning_rate as in the paper
    learning_rate_grid: list[float] = field(default_factory=list)
    subset_seed: int = DEFAULT_SUBSET_SEED
    avoid_fraction: float = DEFAULT_AVOID_FRACTION
    # pre-trainings per row, one per seed: each its training seed and subset seed (its own W_s paragraphs, its own
    # vocabulary and so its own scratch twin); empty: one pre-training with subset_seed and the recipe's seed
    pretrain_seeds: list[int] = field(default_factory=list)
    # a third arm per pre-training: the same paragraphs with the words of each shuffled (word_order shuffled),
    # fine-tuned with the same seeds and compared with the same scratch twin
    shuffled_control: bool = False
    # -- the recipe's values unless set
    pretrain_epochs: float | None = None
    pretrain_learning_rate: float | None = None
    pretrain_weight_decay: float | None = None
    finetune_epochs: float | None = None
    batch_size: int | None = None
    # any other setting of the children, KEY=VALUE[,KEY=VALUE]: checked against the pre-training's and
    # fine-tuning's settings before anything runs, and part of every run's cache key
    pretrain_args: str | None = None  # e.g. "warmup_ratio=0.1,mlm_probability=0.3"
    finetune_args: str | None = None
    # -- how runs are started
    jobs: int = 1  # runs at once (independent ones: seeds, arms, rows); 2 on a 2-core CPU for small models
    threads_per_run: int = 1  # CPU threads of every run, fixed so that --jobs changes no number
    launcher: str = "python"  # or e.g. "accelerate launch --num_processes 2": each run then starts its own process;
    # ray or slurm: each run a Ray task or a SLURM job (docs/cluster.md), slurm-local: submitit's local executor
    ray_address: str | None = None  # --launcher ray: the cluster to join; default the local one (started if none)
    slurm_partition: str | None = None  # --launcher slurm: the partition of every run's job; default the queue's
    slurm_time: int = 240  # --launcher slurm: minutes each run's job may take
    gpus_per_run: int | None = None  # ray, slurm: GPUs of every run; default ray 1 where the cluster has GPUs, slurm 0
    dry_run: bool = False  # list the runs (cached or to start) and their folders, start nothing


@dataclass
class StatsSettings:
    """`tlm stats`: what to print."""

    min_count: int = 10  # k of T_M_k and coverage_k
    json: bool = False  # print JSON instead of a table
    num_proc: int | None = None  # worker processes for tokenising and filtering


@dataclass
class SubsetOutputSettings:
    """`tlm subset`: where the chosen paragraphs go."""

    output_dir: str | None = None  # replaced in one step; holds stats.json too
    format: str = "datasets"  # datasets (load_from_disk) or jsonl
    min_count: int = 10
    num_proc: int | None = None


# The settings of each script, in the order its parser returns them.
@dataclass
class CompareSettings:
    variants: str | None = None  # YAML file: `variants:` a list of {name, pretrain_args, config_overrides}


PRETRAIN_SETTINGS = (PretrainSettings, SubsetSettings, CorpusSettings, TaskSettings, ModelSettings, TokenizerSettings,
                     TrainingArguments)
FINETUNE_SETTINGS = (FinetuneSettings, TaskSettings, ModelSettings, TokenizerSettings, TrainingArguments)
COMMITTEE_SETTINGS = (CommitteeSettings, TaskSettings, ModelSettings, TokenizerSettings, TrainingArguments)
EXPERIMENT_SETTINGS = (ExperimentSettings, CorpusSettings, TaskSettings, ModelSettings, TokenizerSettings)
COMPARE_SETTINGS = (CompareSettings, *EXPERIMENT_SETTINGS)
STATS_SETTINGS = (StatsSettings, SubsetSettings, CorpusSettings, TaskSettings, TokenizerSettings)
SUBSET_SETTINGS = (SubsetOutputSettings, SubsetSettings, CorpusSettings, TaskSettings, TokenizerSettings)
