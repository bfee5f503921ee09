"""Evaluating what pre-training taught: pseudo-log-likelihood scoring and the BLiMP minimal pairs."""
