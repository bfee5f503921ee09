"""tlm-hf: Tiny Language Models (Gross et al.) as Hugging Face-native models and tools.

Importing the package registers the model classes with the transformers Auto classes, and the soft committee
pipeline with the transformers pipeline registry.
"""

from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_conv_bert import PRESETS, ConvBertConfig
from .configuration_soft_committee import SoftCommitteeConfig
from .modeling_conv_bert import (
    ConvBertForMaskedLM,
    ConvBertForSequenceClassification,
    ConvBertModel,
    ConvBertPreTrainedModel,
)
from .modeling_soft_committee import SoftCommitteeForSequenceClassification, SoftCommitteeOutput
from .pipeline_soft_committee import PIPELINE_TASK as SOFT_COMMITTEE_TASK
from .pipeline_soft_committee import SoftCommitteePipeline

# transformers already has a (YituTech) `ConvBertConfig`, and the Auto mappings refuse a second class of
# that name unless `exist_ok`. They key registered classes by object, so the built-in stays untouched.
AutoConfig.register(ConvBertConfig.model_type, ConvBertConfig)
AutoModel.register(ConvBertConfig, ConvBertModel, exist_ok=True)
AutoModelForMaskedLM.register(ConvBertConfig, ConvBertForMaskedLM, exist_ok=True)
AutoModelForSequenceClassification.register(ConvBertConfig, ConvBertForSequenceClassification, exist_ok=True)

AutoConfig.register(SoftCommitteeConfig.model_type, SoftCommitteeConfig)
AutoModelForSequenceClassification.register(SoftCommitteeConfig, SoftCommitteeForSequenceClassification)
PIPELINE_REGISTRY.register_pipeline(
    SOFT_COMMITTEE_TASK,
    pipeline_class=SoftCommitteePipeline,
    pt_model=AutoModelForSequenceClassification,
    type="text",
)

__all__ = [
    "PRESETS",
    "SOFT_COMMITTEE_TASK",
    "ConvBertConfig",
    "ConvBertForMaskedLM",
    "ConvBertForSequenceClassification",
    "ConvBertModel",
    "ConvBertPreTrainedModel",
    "SoftCommitteeConfig",
    "SoftCommitteeForSequenceClassification",
    "SoftCommitteeOutput",
    "SoftCommitteePipeline",
]
