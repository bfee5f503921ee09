"""Token statistics of a pre-training subset against a classification task.

The paper's quantities, counted in token ids of one tokenizer with special tokens excluded:

- W_s: the number of pre-training paragraphs.
- T_W: distinct tokens occurring in the W_s paragraphs.
- T_C: distinct tokens occurring in the task's train + test texts (T_FR, T_AGN, T_DBP in the paper).
- T_M: missing tokens, the task tokens that never occur in W_s.

Token frequencies are very skewed, so a count of distinct tokens says little about how much
of the task's text is covered; the paper's discussion asks for a frequency-weighted overlap.
This module defines it over the task's token occurrences (N_C of them):

- coverage: the share of the task's token occurrences whose token occurs in W_s at all.
- coverage_k: the share of the task's token occurrences whose token occurs at least k
  (`min_count`) times in W_s: tokens seen only once or twice give MLM little to learn from.
- T_M_k: distinct task tokens that occur fewer than k times in W_s (T_M_1 = T_M).

Counting is vectorised: every text is tokenised with a batched `datasets.map` and the ids are
counted with `numpy.bincount` over the vocabulary.
"""

import numpy as np
import pyarrow.compute as pc
from datasets import Dataset, DatasetDict

from ..errors import SettingsError
from .corpus import as_texts
from .tokenizer import load_tokenizer

STAT_DESCRIPTIONS = {
    "W_s": "pre-training paragraphs",
    "T_W": "distinct tokens in W_s",
    "T_C": "distinct tokens in the task (train + test)",
    "T_M": "task tokens absent from W_s",
    "T_M_k": "task tokens occurring fewer than k times in W_s",
    "coverage": "share of task token occurrences whose token occurs in W_s",
    "coverage_k": "share of task token occurrences whose token occurs >= k times in W_s",
    "min_count": "k, the frequency threshold of T_M_k and coverage_k",
    "N_W": "token occurrences in W_s",
    "N_C": "token occurrences in the task",
}



def tokenize(texts, tokenizer, *, num_proc: int | None = None, batch_size: int = 1000) -> Dataset:
    """The texts with an added `input_ids` column (no special tokens, no truncation)."""
    tokenizer = load_tokenizer(tokenizer)

    def encode(batch):
        ids = tokenizer(batch["text"], add_special_tokens=False, return_attention_mask=False,
                        return_token_type_ids=False, verbose=False)["input_ids"]
        return {"input_ids": ids}

    return as_texts(texts).map(encode, batched=True, batch_size=batch_size, num_proc=num_proc, desc="Tokenising")


def count_tokens(tokenised: Dataset, tokenizer, *, batch_size: int = 100_000) -> np.ndarray:
    """Occurrences of every vocabulary id in the `input_ids` column; special tokens set to 0."""
    tokenizer = load_tokenizer(tokenizer)
    counts = np.zeros(len(tokenizer), dtype=np.int64)
    for batch in tokenised.select_columns(["input_ids"]).with_format("arrow").iter(batch_size):
        ids = pc.list_flatten(batch["input_ids"]).to_numpy(zero_copy_only=False)
        counts += np.bincount(ids, minlength=len(counts))
    counts[tokenizer.all_special_ids] = 0
    return counts


def coverage_stats(subset_counts: np.ndarray, task_counts: np.ndarray, *, w_s: int, min_count: int = 10) -> dict:
    """T_W, T_C, T_M and the frequency-weighted measures from two count vectors."""
    if task_counts.sum() == 0:
        raise SettingsError("the task has no (non-special) tokens; check its text column")
    if min_count < 1:
        raise SettingsError(f"min_count must be at least 1, got {min_count}")
    in_task = task_counts > 0
    n_c = int(task_counts.sum())
    return {
        "W_s": int(w_s),
        "T_W": int((subset_counts > 0).sum()),
        "T_C": int(in_task.sum()),
        "T_M": int((in_task & (subset_counts == 0)).sum()),
        "T_M_k": int((in_task & (subset_counts < min_count)).sum()),
        "coverage": float(task_counts[subset_counts > 0].sum() / n_c),
        "coverage_k": float(task_counts[subset_counts >= min_count].sum() / n_c),
        "min_count": int(min_count),
        "N_W": int(subset_counts.sum()),
        "N_C": n_c,
    }


def unigram_divergence(subset_counts: np.ndarray, task_counts: np.ndarray) -> float:
    """Jensen-Shannon divergence (bits, 0 to 1) between the unigram distributions of W_s and of the task: a
    frequency-weighted mismatch measure used beside coverage in published work (Kashyap et al. 2021)."""
    if subset_counts.sum() == 0 or task_counts.sum() == 0:
        raise SettingsError("both count vectors need at least one token to compare their distributions")
    p, q = subset_counts / subset_counts.sum(), task_counts / task_counts.sum()
    m = (p + q) / 2

    def kl(a):  # KL(a || m) over the tokens a has; m > 0 wherever a > 0
        seen = a > 0
        return float((a[seen] * np.log2(a[seen] / m[seen])).sum())

    return (kl(p) + kl(q)) / 2


def token_stats(
    subset_texts, task: DatasetDict, tokenizer, *, min_count: int = 10, num_proc: int | None = None,
    batch_size: int = 1000,
) -> dict:
    """The statistics of STAT_DESCRIPTIONS for W_s paragraphs against a task's train + test."""
    tokenizer = load_tokenizer(tokenizer)
    subset = as_texts(subset_texts)
    subset_counts = count_tokens(tokenize(subset, tokenizer, num_proc=num_proc, batch_size=batch_size), tokenizer)
    task_counts = count_tokens(tokenize(task, tokenizer, num_proc=num_proc, batch_size=batch_size), tokenizer)
    return coverage_stats(subset_counts, task_counts, w_s=len(subset), min_count=min_count)
