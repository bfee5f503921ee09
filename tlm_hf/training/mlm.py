"""Masked-language-model pre-training: tokenised paragraphs, masking, subset statistics, held-out evaluation."""

import math
from dataclasses import dataclass

import numpy as np
import torch
from datasets import Dataset
from transformers import DataCollatorForLanguageModeling

from ..data.bytes import ByteMaskingCollator
from ..data.token_stats import count_tokens, coverage_stats, tokenize


def tokenize_paragraphs(paragraphs: Dataset, tokenizer, *, max_length: int = 128, num_proc=None) -> Dataset:
    """`input_ids` only: [CLS] paragraph [SEP], truncated at `max_length` and not padded.

    Padding is left to the collator, per batch (dynamic padding): WikiText paragraphs are ~100 tokens
    on average, so padding everything to 128 as the paper does wastes a fifth to a half of the compute.
    """

    def encode(batch):
        return tokenizer(batch["text"], truncation=True, max_length=max_length, return_attention_mask=False,
                         return_token_type_ids=False)

    return paragraphs.map(encode, batched=True, remove_columns=paragraphs.column_names, num_proc=num_proc,
                          desc="Tokenising paragraphs")


def mlm_collator(tokenizer, mlm_probability: float = 0.15, pad_to_multiple_of: int | None = 8, **options):
    """The paper's masking: 15% of the non-special tokens, of those 80% [MASK], 10% random, 10% kept.

    Batches are padded to their longest row (rounded up to a multiple of 8 for tensor cores); special
    tokens, padding included, are never selected. `options` override DataCollatorForLanguageModeling's.
    """
    return DataCollatorForLanguageModeling(
        tokenizer, mlm_probability=mlm_probability, pad_to_multiple_of=pad_to_multiple_of,
        **{"mask_replace_prob": 0.8, "random_replace_prob": 0.1, **options},
    )


def pretraining_stats(subset: Dataset, task, tokenizer, *, num_proc=None) -> tuple[dict, np.ndarray]:
    """W_s and T_W of the subset (plus T_C, T_M and the weighted coverage when a task is given), and the
    subset's count of every vocabulary id (special tokens 0), from which the unigram predictor is built."""
    counts = count_tokens(tokenize(subset, tokenizer, num_proc=num_proc), tokenizer)
    if task is None:
        return {"W_s": len(subset), "T_W": int((counts > 0).sum()), "N_W": int(counts.sum())}, counts
    task_counts = count_tokens(tokenize(task, tokenizer, num_proc=num_proc), tokenizer)
    return coverage_stats(counts, task_counts, w_s=len(subset)), counts


# --- held-out evaluation: is the model past the unigram plateau? -------------------------------------------
#
# An MLM first learns token frequencies: its loss falls to that of the unigram predictor (each masked token
# predicted by its frequency in W_s) and stays on that plateau until attention starts to use the context.
# An encoder stopped on the plateau carries little that fine-tuning can use. The held-out paragraphs (not in
# W_s) are masked once, with a fixed seed, 15% of the non-special tokens all replaced by [MASK], whatever the
# training masking: every model is measured on the same positions. Context gain = unigram loss - MLM loss;
# it is about 0 on the plateau and grows as the model uses context.

HELDOUT_MASKING = dict(mlm_probability=0.15, mask_replace_prob=1.0, random_replace_prob=0.0)


def masking_collator(tokenizer, mlm_probability: float = 0.15, *, byte_level: bool = False, **options):
    """Masking for a model's inputs: tokens (`mlm_collator`), or whole tokens' bytes for a byte-level model."""
    if byte_level:
        return ByteMaskingCollator(tokenizer, mlm_probability=mlm_probability, **options)
    return mlm_collator(tokenizer, mlm_probability, **options)


def masked_heldout(paragraphs: Dataset, tokenizer, *, max_length: int = 128, seed: int = 0,
                   byte_level: bool = False) -> Dataset:
    """Held-out paragraphs with fixed masks: the tokenizer's columns, masked, and their `labels` (-100 where not
    masked; for a byte-level model, the masked tokens' bytes)."""
    data = tokenize_paragraphs(paragraphs, tokenizer, max_length=max_length)
    # The token masks come from torch's generator, seeded below. transformers' own seed option would refuse to run
    # in a process not named MainProcess (as a plan's worker is); seeding the global generator gives the same masks.
    masking = masking_collator(tokenizer, byte_level=byte_level, **({"seed": seed} if byte_level else {}),
                               **HELDOUT_MASKING)

    def mask(batch):
        rows = [dict(zip(batch, values)) for values in zip(*batch.values())]
        lengths = [len(row["input_ids"]) for row in rows]
        masked = masking(rows)
        return {key: [row[:n].tolist() for row, n in zip(masked[key], lengths)]
                for key in (*batch, "labels") if key != "attention_mask"}

    with torch.random.fork_rng(devices=[]):  # fixed masks, the caller's random state untouched
        torch.manual_seed(seed)
        return data.map(mask, batched=True, batch_size=1000, desc="Masking held-out paragraphs",
                        load_from_cache_file=False)


@dataclass
class PretrainingCollator:
    """Training rows are masked at random each time; held-out rows (which carry fixed `labels`) are only padded:
    the tokenizer pads their inputs, and their labels (per token, or per byte) are padded with -100 alike."""

    masking: object
    tokenizer: object
    pad_to_multiple_of: int | None = 8

    def __call__(self, features):
        if "labels" not in features[0]:
            return self.masking(features)
        labels = [torch.tensor(row["labels"]) for row in features]
        batch = self.tokenizer.pad([{k: v for k, v in row.items() if k != "labels"} for row in features],
                                   padding=True, pad_to_multiple_of=self.pad_to_multiple_of, return_tensors="pt")
        padded = torch.full((len(labels), batch["input_ids"].shape[1], *labels[0].shape[1:]), -100, dtype=torch.long)
        for row, label in enumerate(labels):
            padded[row, : len(label)] = label
        batch["labels"] = padded
        return batch


def pretraining_collator(tokenizer, mlm_probability: float = 0.15, *, byte_level: bool = False):
    return PretrainingCollator(masking_collator(tokenizer, mlm_probability, byte_level=byte_level), tokenizer)


def unigram_log_probs(counts: np.ndarray) -> np.ndarray:
    """log p(token) of the unigram predictor fitted on W_s: add-one smoothed counts (special tokens included
    with count 0, so every label has a finite loss)."""
    return np.log((counts + 1) / (counts.sum() + len(counts)))


def per_token_predictions(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Trainer's `preprocess_logits_for_metrics` for the sparse MLM head, whose logits hold one row per labelled
    position in row-major order (a byte-level model's: one row of byte slots per labelled token, each labelled
    byte one prediction). Returns, per example, (summed negative log-likelihood, correct predictions, predictions):
    a fixed shape per example, so Trainer's gathering across batches and processes (which trims the last batch
    to the examples it holds) keeps every prediction, without (tokens x vocabulary) floats."""
    if isinstance(logits, tuple):
        logits = logits[0]
    if logits.dim() == 3:  # (labelled tokens, max_token_bytes, byte vocabulary)
        logits = logits[labels[(labels != -100).any(-1)] != -100]
    selected = labels != -100  # per token, or per byte: row-major, the order of the logits' rows
    rows = torch.arange(len(labels), device=labels.device).view(-1, *[1] * (labels.dim() - 1)).expand(labels.shape)
    targets = labels[selected]
    nll = -logits.float().log_softmax(-1).gather(1, targets[:, None]).squeeze(1)
    per_prediction = torch.stack([nll, (logits.argmax(-1) == targets).float(), torch.ones_like(nll)], dim=1)
    return torch.zeros(len(labels), 3, device=logits.device).index_add_(0, rows[selected], per_prediction)


def heldout_metrics(counts: np.ndarray | None):
    """Trainer's `compute_metrics` for held-out MLM: loss, perplexity and accuracy over the masked tokens, the
    unigram predictor's loss on the same tokens, and the context gain. Without `counts` (a byte-level model,
    whose predictions are bytes) only loss, perplexity and accuracy, per byte."""
    log_probs = None if counts is None else unigram_log_probs(counts)

    def compute_metrics(eval_pred):
        nll, correct, count = np.asarray(eval_pred.predictions).reshape(-1, 3).sum(axis=0)
        mlm_loss = float(nll / count)
        metrics = {"mlm_loss": mlm_loss, "perplexity": math.exp(min(mlm_loss, 50)), "accuracy": float(correct / count),
                   "masked_tokens": int(count)}
        if log_probs is not None:
            labels = np.asarray(eval_pred.label_ids)
            metrics["unigram_loss"] = float(-log_probs[labels[labels != -100]].mean())
            metrics["context_gain"] = metrics["unigram_loss"] - mlm_loss
        return metrics

    return compute_metrics


# Below this context gain (unigram loss - held-out MLM loss, in nats) the MLM still predicts by token frequency: at
# +0.01 an encoder fine-tuned worse than a random one, from about +0.2 on it paid off (the recipe study).
PLATEAU_GAIN = 0.05


def context_gain_verdict(context_gain: float | None, *, recipe: str | None = None) -> str | None:
    """The held-out context gain as one plain sentence for the end of a pre-training (None: not measured), with
    advice that fits the run: the `fast` recipe's learning rate is suggested only to a run that did not use it."""
    if context_gain is None:
        return None
    if context_gain < PLATEAU_GAIN:
        advice = ("train longer (--max_steps, --num_train_epochs) or add text" if recipe == "fast" else
                  "train longer, raise the learning rate (--recipe fast), or add text")
        return (f"context gain {context_gain:+.3f}: still on the unigram plateau (the model predicts by token "
                f"frequency, not yet from context): {advice}")
    return f"context gain {context_gain:+.3f}: the model uses context (held-out loss below the unigram loss)"
