"""Data: pre-training corpora, classification tasks, token statistics, W_s subsets and tokenizers."""
