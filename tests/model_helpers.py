"""Inputs shared by the model tests."""

import torch


def padded_batch(vocab_size: int, lengths, seed: int = 0):
    """Random sequences of the given lengths padded (id 0) to the longest, with their attention mask."""
    generator = torch.Generator().manual_seed(seed)
    input_ids = torch.randint(5, vocab_size, (len(lengths), max(lengths)), generator=generator)
    attention_mask = torch.zeros_like(input_ids)
    for row, length in enumerate(lengths):
        attention_mask[row, :length] = 1
    return input_ids.masked_fill(attention_mask == 0, 0), attention_mask
