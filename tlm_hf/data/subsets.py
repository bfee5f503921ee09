"""The paper's three ways to choose W_s pre-training paragraphs, and writing them to disk.

- random (Tables 3, 5, 6): W_s paragraphs drawn by seed.
- custom (Tables 1, 2): only paragraphs made solely of the task's tokens (T_C), optionally
  cut down to W_s by seed.
- avoid (Tables 4, 7): raise T_M on purpose at a fixed W_s. As in the paper's appendix, the
  allowed tokens are those absent from the task plus the task tokens most common in the
  corpus; the least common `avoid_fraction` of the task's tokens are avoided, so T_M ends up
  at least avoid_fraction * T_C. Only paragraphs without avoided tokens are kept.

Special tokens are always allowed: they are excluded from every statistic.
Membership is a boolean table over the vocabulary, applied to whole batches of token ids.
"""

import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict

from ..errors import SettingsError
from .corpus import DEFAULT_SUBSET_SEED, random_subset
from .token_stats import count_tokens, tokenize
from .tokenizer import load_tokenizer

SUBSET_KINDS = ("random", "custom", "avoid")
WORD_ORDERS = ("kept", "shuffled")  # a subset's paragraphs as written, or each one's words shuffled
DEFAULT_AVOID_FRACTION = 0.5
SUBSET_FORMATS = ("datasets", "jsonl")


def _only_allowed(input_ids, allowed: np.ndarray) -> np.ndarray:
    """For an Arrow list column of token ids: True where every id of the row is allowed."""
    ids = pc.list_flatten(input_ids).to_numpy(zero_copy_only=False)
    lengths = pc.list_value_length(input_ids).to_numpy(zero_copy_only=False)
    rows = np.repeat(np.arange(len(lengths)), lengths)
    return np.bincount(rows, weights=~allowed[ids], minlength=len(lengths)) == 0


def filter_paragraphs(
    tokenised: Dataset, allowed: np.ndarray, *, num_proc: int | None = None, batch_size: int = 10_000
) -> Dataset:
    """The rows of a tokenised dataset whose `input_ids` are all allowed (allowed[id] is True)."""
    kept = tokenised.with_format("arrow").filter(
        _only_allowed, batched=True, batch_size=batch_size, input_columns=["input_ids"],
        fn_kwargs={"allowed": allowed}, num_proc=num_proc, desc="Filtering paragraphs",
    )
    return kept.with_format(None)


def avoided_tokens(task_counts: np.ndarray, corpus_counts: np.ndarray, avoid_fraction: float) -> np.ndarray:
    """The task's tokens that are least common in the corpus, avoid_fraction of T_C of them."""
    if not 0 < avoid_fraction <= 1:
        raise SettingsError(f"avoid_fraction must be in (0, 1], got {avoid_fraction}")
    task_ids = np.flatnonzero(task_counts)
    order = task_ids[np.argsort(corpus_counts[task_ids], kind="stable")]
    return order[: round(avoid_fraction * len(task_ids))]


def build_subset(
    kind: str,
    paragraphs: Dataset,
    task: DatasetDict | None = None,
    tokenizer=None,
    *,
    w_s: int | None = None,
    seed: int = DEFAULT_SUBSET_SEED,
    avoid_fraction: float = DEFAULT_AVOID_FRACTION,
    num_proc: int | None = None,
    batch_size: int = 1000,
) -> Dataset:
    """W_s paragraphs chosen the `kind` way (see the module docstring), same seed -> same rows.

    random needs w_s; custom and avoid need the task and tokenizer and keep every paragraph
    that passes when w_s is None.
    """
    if kind not in SUBSET_KINDS:
        raise SettingsError(f"unknown subset kind {kind!r}; use one of {', '.join(SUBSET_KINDS)}")
    if kind == "random":
        if w_s is None:
            raise SettingsError("a random subset needs W_s; pass w_s (the paper uses 2,000 to 200,000)")
        return random_subset(paragraphs, w_s, seed)
    if task is None or tokenizer is None:
        raise SettingsError(f"a {kind} subset is defined by the task's tokens; pass a task and a tokenizer")
    tokenizer = load_tokenizer(tokenizer)
    task_counts = count_tokens(tokenize(task, tokenizer, num_proc=num_proc, batch_size=batch_size), tokenizer)
    tokenised = tokenize(paragraphs, tokenizer, num_proc=num_proc, batch_size=batch_size)
    if kind == "custom":
        allowed = task_counts > 0
        rule = "consist solely of task tokens"
    else:
        allowed = np.ones(len(task_counts), dtype=bool)
        allowed[avoided_tokens(task_counts, count_tokens(tokenised, tokenizer), avoid_fraction)] = False
        rule = f"avoid {avoid_fraction:.0%} of the task tokens"
    allowed[tokenizer.all_special_ids] = True
    kept = filter_paragraphs(tokenised, allowed, num_proc=num_proc).remove_columns("input_ids")
    if len(kept) == 0:
        raise SettingsError(f"no paragraph of the corpus would {rule}; use a bigger corpus or a lower avoid_fraction")
    if w_s is not None and w_s > len(kept):
        raise SettingsError(
            f"only {len(kept)} paragraphs {rule}, fewer than W_s = {w_s}; lower W_s or use a bigger corpus"
        )
    return kept if w_s is None else random_subset(kept, w_s, seed)


def save_subset(subset: Dataset, out_dir, stats: dict, *, fmt: str = "datasets") -> Path:
    """Write the subset and its `stats.json` into `out_dir`, replacing it in one step.

    fmt "datasets": `save_to_disk` (reload with `datasets.load_from_disk(out_dir)`);
    fmt "jsonl": `out_dir/paragraphs.jsonl`. Everything is written to a temporary sibling folder
    first, so a crash never leaves a half-written subset under `out_dir`.
    """
    if fmt not in SUBSET_FORMATS:
        raise SettingsError(f"unknown format {fmt!r}; use one of {', '.join(SUBSET_FORMATS)}")
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; the subset is meant to be shared
    try:
        if fmt == "datasets":
            subset.save_to_disk(str(tmp))
        else:
            subset.to_json(tmp / "paragraphs.jsonl", lines=True, force_ascii=False)
        (tmp / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
        if out.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old.", dir=out.parent))
            os.replace(out, old / out.name)
            os.replace(tmp, out)
            shutil.rmtree(old)
        else:
            os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
