"""Masked-language-model pre-training data: tokenised paragraphs, the paper's masking, subset statistics."""

from datasets import Dataset
from transformers import DataCollatorForLanguageModeling

from ..data.token_stats import count_tokens, token_stats, tokenize


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


def mlm_collator(tokenizer, mlm_probability: float = 0.15, pad_to_multiple_of: int | None = 8):
    """The paper's masking: 15% of the non-special tokens, of those 80% [MASK], 10% random, 10% kept.

    Batches are padded to their longest row (rounded up to a multiple of 8 for tensor cores); special
    tokens, padding included, are never selected.
    """
    return DataCollatorForLanguageModeling(
        tokenizer, mlm_probability=mlm_probability, mask_replace_prob=0.8, random_replace_prob=0.1,
        pad_to_multiple_of=pad_to_multiple_of,
    )


def pretraining_stats(subset: Dataset, task, tokenizer, *, num_proc=None) -> dict:
    """W_s and T_W of the subset, plus T_C, T_M and the weighted coverage when a task is given."""
    if task is not None:
        return token_stats(subset, task, tokenizer, num_proc=num_proc)
    counts = count_tokens(tokenize(subset, tokenizer, num_proc=num_proc), tokenizer)
    return {"W_s": len(subset), "T_W": int((counts > 0).sum()), "N_W": int(counts.sum())}
