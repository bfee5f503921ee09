"""Training: recipes, MLM pre-training, fine-tuning, experiments, run files and results tables."""
