"""Classification tasks of the paper (and any other), as balanced `train` / `test` splits.

Every task comes out the same way: columns `text` (str) and `label` (a `ClassLabel` carrying
the label names), sampled per label by seed. T_C, the task's distinct tokens, is counted over
train + test together (see `token_stats`).
"""

import gzip
import json
import logging
from dataclasses import dataclass, replace

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Features, Value

from ..errors import SettingsError
from .files import expand_files, file_suffix, load_files, load_hub

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TaskSpec:
    """Where a task lives on the Hub, which columns hold text and label, and the paper's sizes.

    text_fields are joined with a space, skipping empty ones (DBpedia: title + content).
    test_split None means one pool that is split per label into train and test by seed.
    """

    hub_id: str
    text_fields: tuple[str, ...]
    label_field: str
    label_names: tuple[str, ...] | None = None
    train_per_label: int | None = None
    test_per_label: int | None = None
    hub_config: str | None = None
    train_split: str = "train"
    test_split: str | None = "test"


TASKS: dict[str, TaskSpec] = {
    "ag_news": TaskSpec(
        "fancyzhx/ag_news", ("text",), "label", ("World", "Sports", "Business", "Sci/Tech"), 1000, 1000
    ),
    "dbpedia_14": TaskSpec(
        "fancyzhx/dbpedia_14",
        ("title", "content"),
        "label",
        (
            "Company", "EducationalInstitution", "Artist", "Athlete", "OfficeHolder",
            "MeanOfTransportation", "Building", "NaturalPlace", "Village", "Animal", "Plant",
            "Album", "Film", "WrittenWork",
        ),
        100,
        100,
    ),
    # Relations are the labels; each relation's 700 instances are split 630 / 70 by seed.
    "few_rel": TaskSpec(
        "thunlp/few_rel", ("text",), "relation", None, 630, 70,
        hub_config="default", train_split="train_wiki", test_split=None,
    ),
}

ENTITY_MARKERS = ("[E1]", "[/E1]", "[E2]", "[/E2]")


# --- FewRel ------------------------------------------------------------------------------------


def _marked_text(tokens, head_spans, tail_spans, entity_markers):
    """The sentence, optionally with [E1] head [/E1] and [E2] tail [/E2] around each mention."""
    if not entity_markers:
        return " ".join(tokens)
    before = [[] for _ in tokens]
    after = [[] for _ in tokens]
    for (open_, close), spans in ((ENTITY_MARKERS[:2], head_spans), (ENTITY_MARKERS[2:], tail_spans)):
        for span in spans:
            before[min(span)].append(open_)
            after[max(span)].append(close)
    return " ".join(t for i, tok in enumerate(tokens) for t in (*before[i], tok, *after[i]))


def _fewrel_rows(source, split: str):
    """(tokens, head spans, tail spans, relation) from the original JSON or the Hub layout."""
    if isinstance(source, dict):
        raise SettingsError("few_rel reads one file with all relations; pass data_files as a single path")
    if source is not None and file_suffix(source) == ".json":
        path = expand_files(source)[0]
        with (gzip.open if path.endswith(".gz") else open)(path, "rt", encoding="utf-8") as f:
            data = json.load(f)
        if isinstance(data, dict):  # original FewRel: {relation_id: [{"tokens", "h", "t"}]}
            return [
                (ex["tokens"], ex["h"][2], ex["t"][2], relation)
                for relation, examples in data.items()
                for ex in examples
            ]
    if source is not None:
        data = load_files(source)["train"]
    else:
        data = load_hub(TASKS["few_rel"].hub_id, TASKS["few_rel"].hub_config, split=split)
    missing = [c for c in ("tokens", "head", "tail", "relation") if c not in data.column_names]
    if missing:
        raise SettingsError(
            f"few_rel data has no column {missing[0]!r}; give the original FewRel JSON or the Hub layout "
            "(tokens, head, tail, relation)"
        )
    return [
        (row["tokens"], row["head"]["indices"], row["tail"]["indices"], row["relation"])
        for row in data.select_columns(["tokens", "head", "tail", "relation"])
    ]


def _choose_relations(available: list[str], relations, seed: int) -> list[str]:
    """All relations (sorted), a list of ids in the given order, or a count drawn by seed."""
    if relations is None:
        return available
    if isinstance(relations, int):
        if not 1 <= relations <= len(available):
            raise SettingsError(
                f"asked for {relations} relations but the data has {len(available)}; "
                f"pass a count up to {len(available)}"
            )
        chosen = np.random.default_rng(seed).choice(len(available), relations, replace=False)
        return [available[i] for i in sorted(chosen)]
    unknown = [r for r in relations if r not in available]
    if unknown:
        raise SettingsError(f"unknown relation {unknown[0]!r}; choose among {', '.join(available)}")
    return list(relations)


def _load_fewrel(data_files, split, relations, entity_markers, seed) -> Dataset:
    rows = _fewrel_rows(data_files, split)
    chosen = _choose_relations(sorted({r[3] for r in rows}), relations, seed)
    index = {relation: i for i, relation in enumerate(chosen)}
    rows = [r for r in rows if r[3] in index]
    return Dataset.from_dict(
        {
            "text": [_marked_text(tokens, h, t, entity_markers) for tokens, h, t, _ in rows],
            "label": [index[r[3]] for r in rows],
        },
        features=Features({"text": Value("string"), "label": ClassLabel(names=chosen)}),
    )


# --- labels and per-label sampling -------------------------------------------------------------


def _label_names(splits: dict[str, Dataset], label_field: str, spec_names) -> list[str]:
    """Label names from a ClassLabel feature, the task spec, string labels, or int labels."""
    feature = next(iter(splits.values())).features[label_field]
    if isinstance(feature, ClassLabel):
        return list(feature.names)
    if spec_names is not None:
        return list(spec_names)
    values = {v for ds in splits.values() for v in ds.unique(label_field)}
    if all(isinstance(v, str) for v in values):
        return sorted(values)
    return [str(i) for i in range(max(int(v) for v in values) + 1)] if values else []


def _encode_labels(ds: Dataset, label_field: str, names: list[str], where: str) -> np.ndarray:
    """Labels as ints in 0..len(names)-1; a one-line error for anything outside."""
    values = ds.select_columns([label_field]).with_format("numpy")[:][label_field]
    if values.dtype.kind in "UO":
        index = {name: i for i, name in enumerate(names)}
        unknown = next((v for v in values if v not in index), None)
        if unknown is not None:
            raise SettingsError(f"label {unknown!r} in {where} is not one of {names}; fix the data or the task")
        return np.array([index[v] for v in values], dtype=np.int64)
    if values.dtype.kind not in "iu":
        raise SettingsError(f"labels in {where} are {values.dtype}, not integers or strings; convert the label column")
    labels = values.astype(np.int64)
    bad = labels[(labels < 0) | (labels >= len(names))]
    if bad.size:
        raise SettingsError(
            f"label {bad[0]} in {where} is out of range 0..{len(names) - 1}; fix the data or pick the right task"
        )
    return labels


def _source(name: str, data_files, split: str | None = None) -> str:
    """How a message names the data: its file(s) when the user gave them, else the task and split."""
    if data_files is None:
        return name if split in (None, "pool") else f"{name} ({split})"
    if isinstance(data_files, dict):
        return data_files[split] if split in data_files else ", ".join(data_files.values())
    return str(data_files)


def _drop_empty_texts(ds: Dataset, text_fields, where: str) -> Dataset:
    """The rows whose text (the text fields joined) is not empty, as the corpus reader skips empty lines: an empty
    cell would otherwise be an example of its label with nothing to read. How many were dropped is logged."""
    import pyarrow as pa
    import pyarrow.compute as pc

    table = ds.select_columns(list(text_fields)).with_format("arrow")[:]
    keep = np.zeros(len(ds), dtype=bool)
    for column in table.columns:
        if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
            filled = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(column)), 0)
        else:
            filled = pc.is_valid(column)
        keep |= pc.fill_null(filled, False).to_numpy(zero_copy_only=False)
    if keep.all():
        return ds
    if not keep.any():
        raise SettingsError(f"{where}: every row's text ({', '.join(text_fields)}) is empty; check the file, or give "
                            "--text_column naming the column that holds the text")
    logger.warning(f"{where}: {len(ds) - keep.sum():,} of {len(ds):,} rows have an empty text and are left out "
                   "(as the corpus reader skips empty lines)")
    return ds.select(np.flatnonzero(keep))


def _check_training_split(labels, train_indices, names, where: str) -> None:
    """A classifier learns each label from its training examples: every label needs at least one there."""
    counts = np.bincount(labels[train_indices], minlength=len(names))
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        total = int((labels == empty[0]).sum())
        went = f"its {total} example{'' if total == 1 else 's'} went to test or validation" if total else "none there"
        raise SettingsError(
            f"label {names[empty[0]]!r} has no training example in {where} ({went}); add examples of it, or lower "
            "--test_per_label / --validation_per_label"
        )


def _take_per_label(labels, counts, names, rng, where) -> list[np.ndarray]:
    """For each count in `counts`, that many indices per label, disjoint, drawn by `rng`; a None count: the rest."""
    picks = [[] for _ in counts]
    for label in range(len(names)):
        rows = rng.permutation(np.flatnonzero(labels == label))
        rest = max(len(rows) - sum(n for n in counts if n is not None), 0)
        wanted = [rest if n is None else n for n in counts]
        if sum(wanted) > len(rows):
            raise SettingsError(
                f"label {names[label]!r} has {len(rows)} examples in {where}, fewer than the {sum(wanted)} asked; "
                "lower train_per_label / test_per_label or add data"
            )
        start = 0
        for pick, n in zip(picks, wanted):
            pick.append(rows[start : start + n])
            start += n
    return [np.sort(np.concatenate(p)) if p else np.array([], dtype=np.int64) for p in picks]


def _finish(ds: Dataset, indices, labels, text_fields, names) -> Dataset:
    """The selected rows as (text, label) with the label names attached."""
    rows = ds.select(indices)
    texts = [
        " ".join(str(v).strip() for v in values if v)
        for values in zip(*(rows[f] for f in text_fields))
    ]
    return Dataset.from_dict(
        {"text": texts, "label": labels[indices]},
        features=Features({"text": Value("string"), "label": ClassLabel(names=names)}),
    )


def _raw_splits(spec: TaskSpec, name: str, data_files) -> dict[str, Dataset]:
    """{"train", "test"} when the source has both, else {"pool"} to be split per label."""
    if data_files is not None:
        if isinstance(data_files, dict) and not set(data_files) <= {"train", "test"}:
            raise SettingsError(f"data_files keys must be train and test, got {sorted(data_files)}; rename them")
        if isinstance(data_files, dict) and "train" not in data_files:
            raise SettingsError(
                f"task_data has test={data_files['test']} but no train file; give train=FILE,test=FILE, "
                "or one FILE that is split per label into train and test"
            )
        loaded = load_files(data_files)
        if "test" in loaded:
            return {"train": loaded["train"], "test": loaded["test"]}
        # The rule: one file (FILE or train=FILE alone) is one pool, split per label into disjoint train and test.
        return {"pool": loaded["train"]}
    loaded = load_hub(spec.hub_id, spec.hub_config)
    if spec.test_split in loaded:
        return {"train": loaded[spec.train_split], "test": loaded[spec.test_split]}
    if spec.train_split in loaded:
        return {"pool": loaded[spec.train_split]}
    raise SettingsError(f"{name} has no split {spec.train_split!r} (splits: {', '.join(loaded)}); pass data_files")


def infer_columns(ds: Dataset, name: str, text_column=None, label_column=None) -> tuple[str, str]:
    """(text column, label column) of a user's data: the ones given, else `text` / `label`, else, with two columns,
    the other one (of two unnamed ones, the text is the one with longer values)."""
    columns = ds.column_names
    text = text_column or ("text" if "text" in columns else None)
    label = label_column or ("label" if "label" in columns else None)
    others = [c for c in columns if c not in (text, label)]
    if len(columns) == 2 and len(others) == 1:
        text, label = (text, others[0]) if text else (others[0], label)
    elif len(columns) == 2 and not (text or label):
        sample = ds.select(range(min(len(ds), 100)))
        text, label = sorted(columns, key=lambda c: -sum(len(str(v)) for v in sample[c]))
    if text and label:
        return text, label
    missing = "--label_column" if text else "--text_column" if label else "--text_column and --label_column"
    raise SettingsError(
        f"{name}: cannot tell which column holds the {'label' if text else 'text' if label else 'text and label'} "
        f"(columns: {', '.join(columns)}); add {missing} naming it, or name the columns text and label"
    )


def load_task(
    name: str,
    *,
    data_files: dict[str, str] | str | None = None,
    train_per_label: int | None = None,
    test_per_label: int | None = None,
    validation_per_label: int | None = None,
    seed: int = 42,
    text_column: str | None = None,
    label_column: str | None = None,
    relations: list[str] | int | None = None,
    entity_markers: bool = False,
) -> DatasetDict:
    """A task as DatasetDict(train, test) with columns `text` and `label` (ClassLabel).

    name: a key of TASKS, any Hub dataset id together with text_column and label_column, or any name for
        data_files, whose columns are found by `infer_columns` unless given.
    data_files: local files instead of the Hub: {"train": ..., "test": ...}, or one file (a path, or
        {"train": ...} alone) that is split per label into disjoint train and test by seed, with the sizes
        logged in one line; {"test": ...} alone is refused.
    train_per_label / test_per_label: examples per label (default: the paper's for known tasks,
        everything for others; from one file, train gets what test and validation leave); a label with
        fewer examples than asked is an error.
    validation_per_label: also a `validation` split of this many examples per label, drawn from the
        training data on top of train_per_label (disjoint from train and test), for choosing
        hyper-parameters without touching the test split.
    relations (few_rel): relation ids, or a number of relations drawn by seed; default all.
    entity_markers (few_rel): wrap head and tail mentions in [E1] ... [/E1], [E2] ... [/E2].
    """
    if name in TASKS:
        spec = TASKS[name]
        if text_column or label_column:
            spec = replace(
                spec, text_fields=(text_column,) if text_column else spec.text_fields,
                label_field=label_column or spec.label_field, label_names=None,
            )
    elif (text_column and label_column) or data_files is not None:
        spec = TaskSpec(name, (text_column,) if text_column else (), label_column or "")  # missing: read off the data
    else:
        raise SettingsError(
            f"unknown task {name!r}; use one of {', '.join(TASKS)}, give task_data FILE (your own csv/jsonl), "
            "or give text_column and label_column for any other Hub dataset"
        )
    train_n = spec.train_per_label if train_per_label is None else train_per_label
    test_n = spec.test_per_label if test_per_label is None else test_per_label

    if name == "few_rel" and not (text_column or label_column):
        splits = {"pool": _load_fewrel(data_files, spec.train_split, relations, entity_markers, seed)}
        spec = replace(spec, label_field="label")
    else:
        splits = _raw_splits(spec, name, data_files)
    if not (spec.text_fields and spec.label_field):
        text, label = infer_columns(next(iter(splits.values())), name, text_column, label_column)
        spec = replace(spec, text_fields=(text,), label_field=label)
    for split, ds in splits.items():
        missing = [c for c in (*spec.text_fields, spec.label_field) if c not in ds.column_names]
        if missing:
            raise SettingsError(
                f"{name} ({split}) has no column {missing[0]!r} (columns: {', '.join(ds.column_names)}); "
                "pass text_column= / label_column= (--text_column / --label_column)"
            )
        splits[split] = _drop_empty_texts(ds, spec.text_fields, _source(name, data_files, split))
    names = _label_names(splits, spec.label_field, spec.label_names)
    if len(names) < 2:
        raise SettingsError(
            f"{_source(name, data_files)} has {'one label' if names else 'no label'}"
            f"{f' ({names[0]!r})' if names else ''} in column "
            f"{spec.label_field!r}; a classifier needs at least 2: check the data, or give --label_column naming "
            "the column that holds the labels"
        )
    rng = np.random.default_rng(seed)
    if "pool" in splits:
        if test_n is None:
            raise SettingsError(
                f"{name} is one file, split per label into train and test; add --test_per_label N (examples per "
                "label to test on; train gets the rest, or --train_per_label of them)"
            )
        pool = splits["pool"]
        labels = _encode_labels(pool, spec.label_field, names, f"{name}")
        # validation last: asking for it leaves the train and test examples as they were; train None: the rest
        counts = [train_n, test_n] + ([validation_per_label] if validation_per_label else [])
        picks = dict(zip(("train", "test", "validation"), _take_per_label(labels, counts, names, rng, name)))
        _check_training_split(labels, picks["train"], names, name)
        if data_files is not None:
            source = data_files["train"] if isinstance(data_files, dict) else data_files
            sizes = ", ".join(f"{split} {len(idx):,}" for split, idx in picks.items())
            logger.warning(
                f"{name}: one task file ({source}), split per label by task_seed into disjoint {sizes} examples; "
                "give train=FILE,test=FILE to test on a file of its own"
            )
        return _recording_columns(
            DatasetDict({split: _finish(pool, idx, labels, spec.text_fields, names) for split, idx in picks.items()}),
            spec, one_file=True)
    out = {}
    for split, counts in (("train", [train_n] + ([validation_per_label] if validation_per_label else [])),
                          ("test", [test_n])):
        labels = _encode_labels(splits[split], spec.label_field, names, f"{name} ({split})")
        for part, idx in zip((split, "validation"), _take_per_label(labels, counts, names, rng, f"{name} ({split})")):
            if part == "train":
                _check_training_split(labels, idx, names, f"{name} (train)")
            out[part] = _finish(splits[split], idx, labels, spec.text_fields, names)
    return _recording_columns(
        DatasetDict({split: out[split] for split in ("train", "validation", "test") if split in out}), spec)


def _recording_columns(task: DatasetDict, spec: TaskSpec, *, one_file: bool = False) -> DatasetDict:
    """`task` with `task.source_columns`: the columns its text and labels were read from, and whether one file was
    split per label, so that a command can say what it chose (attributes of the DatasetDict, not of its splits)."""
    task.source_columns = {"text": list(spec.text_fields), "label": spec.label_field, "one_file": one_file}
    return task
