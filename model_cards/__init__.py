"""Model card templates (Jinja, for huggingface_hub.ModelCard), installed as `tlm_hf.model_cards`."""
