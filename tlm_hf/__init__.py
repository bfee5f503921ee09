"""tlm-hf: Tiny Language Models (Gross et al.) as Hugging Face-native models and tools.

Importing the package registers the model classes with the transformers Auto classes.
"""

from .configuration_conv_bert import ConvBertConfig
from .modeling_conv_bert import (
    ConvBertForMaskedLM,
    ConvBertForSequenceClassification,
    ConvBertModel,
    ConvBertPreTrainedModel,
)

__all__ = [
    "ConvBertConfig",
    "ConvBertForMaskedLM",
    "ConvBertForSequenceClassification",
    "ConvBertModel",
    "ConvBertPreTrainedModel",
]
