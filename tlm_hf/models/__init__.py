"""The model files: ConvBert and the soft committee. Each folder saved by them carries copies of these files."""
