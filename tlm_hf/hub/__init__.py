"""The Hub: model cards, publishing run folders, and importing checkpoints of the paper's code."""
