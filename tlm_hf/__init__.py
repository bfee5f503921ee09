"""tlm-hf: Tiny Language Models (Gross et al.) as Hugging Face-native models and tools.

Importing the package registers the model classes with the transformers Auto classes.
"""

from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification

from .configuration_conv_bert import PRESETS, ConvBertConfig
from .modeling_conv_bert import (
    ConvBertForMaskedLM,
    ConvBertForSequenceClassification,
    ConvBertModel,
    ConvBertPreTrainedModel,
)

# transformers already has a (YituTech) `ConvBertConfig`, and the Auto mappings refuse a second class of
# that name unless `exist_ok`. They key registered classes by object, so the built-in stays untouched.
AutoConfig.register(ConvBertConfig.model_type, ConvBertConfig)
AutoModel.register(ConvBertConfig, ConvBertModel, exist_ok=True)
AutoModelForMaskedLM.register(ConvBertConfig, ConvBertForMaskedLM, exist_ok=True)
AutoModelForSequenceClassification.register(ConvBertConfig, ConvBertForSequenceClassification, exist_ok=True)

__all__ = [
    "PRESETS",
    "ConvBertConfig",
    "ConvBertForMaskedLM",
    "ConvBertForSequenceClassification",
    "ConvBertModel",
    "ConvBertPreTrainedModel",
]
