"""Byte-level MLM batches (STLM §5.2): pad token ids and bytes together, mask whole tokens, label the masked bytes.

The tokenizer is a `ConvBertByteTokenizer` (tlm_hf/models/tokenization_conv_bert.py), whose rows carry `input_bytes`
next to `input_ids`; fine-tuning needs nothing more than `DataCollatorWithPadding(tokenizer)`, since the tokenizer's
`pad` pads `input_bytes` too. Pre-training masks whole tokens: a masked token's `input_ids` entry becomes [MASK] and its
bytes the mask marker (`BYTE_MASK`), and the model is asked for the token's original bytes.
"""

import tempfile
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import SettingsError
from ..models.configuration_conv_bert import BYTE_MASK, BYTE_PAD
from ..models.tokenization_conv_bert import ConvBertByteTokenizer
from .samples import resolve_sample


def load_byte_tokenizer(path, max_token_bytes: int = 16) -> ConvBertByteTokenizer:
    """Any saved BERT tokenizer (folder, Hub id or `sample:<name>`) as a `ConvBertByteTokenizer`."""
    return ConvBertByteTokenizer.from_pretrained(resolve_sample(path), max_token_bytes=max_token_bytes)


def as_byte_tokenizer(tokenizer, max_token_bytes: int = 16) -> ConvBertByteTokenizer:
    """A loaded BERT tokenizer (e.g. one just trained on W_s) as a `ConvBertByteTokenizer` with the same vocabulary."""
    if isinstance(tokenizer, ConvBertByteTokenizer):
        return tokenizer
    with tempfile.TemporaryDirectory() as folder:
        tokenizer.save_pretrained(folder)
        return load_byte_tokenizer(folder, max_token_bytes)


def byte_labels(input_bytes: torch.Tensor) -> torch.Tensor:
    """What the byte decoder predicts for each token: its byte ids, then `BYTE_PAD` once (end of token), then -100.

    A token that fills all `max_token_bytes` slots (capped) has no end marker."""
    after_end = (input_bytes == BYTE_PAD).cumsum(dim=-1) > 1
    return input_bytes.masked_fill(after_end, -100)


@dataclass
class ByteMaskingCollator:
    """MLM batches for a byte-level ConvBert: `input_ids`, `input_bytes`, `attention_mask`, byte `labels`.

    Of the tokens that have bytes (special tokens and padding have none and are never chosen), `mlm_probability`
    are chosen; of those, `mask_replace_prob` become [MASK] (bytes: the mask marker), `random_replace_prob` become
    another real token of the batch (its id and bytes), the rest stay. `labels` `(batch, sequence,
    max_token_bytes)` hold the chosen tokens' `byte_labels` and -100 elsewhere. Works as a Trainer `data_collator`
    on rows of the byte tokenizer (lists, not padded).
    """

    tokenizer: Any
    mlm_probability: float = 0.15
    mask_replace_prob: float = 0.8
    random_replace_prob: float = 0.1
    pad_to_multiple_of: int | None = 8
    seed: int | None = None

    def __post_init__(self):
        if not 0 < self.mlm_probability < 1:
            raise SettingsError(f"mlm_probability must be in (0, 1), got {self.mlm_probability}.")
        replace = (self.mask_replace_prob, self.random_replace_prob)
        if min(replace) < 0 or sum(replace) > 1:
            raise SettingsError("mask_replace_prob and random_replace_prob must be >= 0 and sum to at most 1.")
        self.generator = None if self.seed is None else torch.Generator().manual_seed(self.seed)

    def __call__(self, features: list[dict]) -> dict:
        batch = self.tokenizer.pad(features, padding=True, pad_to_multiple_of=self.pad_to_multiple_of,
                                   return_tensors="pt")
        if "input_bytes" not in batch:
            raise SettingsError("rows have no input_bytes: tokenize with the byte-level tokenizer (ConvBertByteTokenizer)")
        input_ids, input_bytes = batch["input_ids"], batch["input_bytes"]
        has_bytes = input_bytes[..., 0] != BYTE_PAD
        chosen = (torch.rand(input_ids.shape, generator=self.generator) < self.mlm_probability) & has_bytes
        batch["labels"] = byte_labels(input_bytes).masked_fill(~chosen.unsqueeze(-1), -100)

        roll = torch.rand(input_ids.shape, generator=self.generator)
        to_mask = chosen & (roll < self.mask_replace_prob)
        to_random = chosen & ~to_mask & (roll < self.mask_replace_prob + self.random_replace_prob)
        if to_random.any():
            donors = has_bytes.nonzero()
            donors = donors[torch.randint(len(donors), (int(to_random.sum()),), generator=self.generator)]
            input_ids[to_random] = input_ids[donors[:, 0], donors[:, 1]]
            input_bytes[to_random] = input_bytes[donors[:, 0], donors[:, 1]]
        input_ids[to_mask] = self.tokenizer.mask_token_id
        input_bytes[to_mask] = BYTE_PAD
        input_bytes[..., 0][to_mask] = BYTE_MASK
        return batch


__all__ = ["ByteMaskingCollator", "as_byte_tokenizer", "byte_labels", "load_byte_tokenizer"]
