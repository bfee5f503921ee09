"""tlm-hf: Tiny Language Models (Gross et al.) as Hugging Face-native models and tools.

Importing the package registers the model classes with the transformers Auto classes, and the soft committee
pipeline with the transformers pipeline registry.

Layout: `models/` (configuration, modeling and pipeline files, copied beside saved weights for remote code),
`data/` (corpora, tasks, token statistics, subsets, tokenizers), `training/` (recipes, MLM, fine-tuning,
experiments, run files, results tables), `evaluation/` (pseudo-log-likelihood, BLiMP), `hub/` (model cards,
publishing, paper-checkpoint conversion), `settings.py` (the settings vocabulary), `arguments.py` and `cli.py`
(the only modules that parse command lines).
"""

from transformers import AutoConfig, AutoModel, AutoModelForMaskedLM, AutoModelForSequenceClassification, AutoTokenizer
from transformers.pipelines import PIPELINE_REGISTRY

from .models.configuration_conv_bert import PRESETS, ConvBertConfig
from .models.configuration_soft_committee import SoftCommitteeConfig
from .models.modeling_conv_bert import (
    ConvBertForMaskedLM,
    ConvBertForSequenceClassification,
    ConvBertModel,
    ConvBertPreTrainedModel,
)
from .models.modeling_soft_committee import SoftCommitteeForSequenceClassification, SoftCommitteeOutput
from .models.pipeline_soft_committee import PIPELINE_TASK as SOFT_COMMITTEE_TASK
from .models.pipeline_soft_committee import SoftCommitteePipeline
from .models.tokenization_conv_bert import ConvBertByteTokenizer

# transformers already has a (YituTech) `ConvBertConfig`, and the Auto mappings refuse a second class of
# that name unless `exist_ok`. They key registered classes by object, so the built-in stays untouched.
AutoConfig.register(ConvBertConfig.model_type, ConvBertConfig)
AutoModel.register(ConvBertConfig, ConvBertModel, exist_ok=True)
AutoModelForMaskedLM.register(ConvBertConfig, ConvBertForMaskedLM, exist_ok=True)
AutoModelForSequenceClassification.register(ConvBertConfig, ConvBertForSequenceClassification, exist_ok=True)
# So that a byte-level folder's tokenizer (tokenizer_class "ConvBertByteTokenizer") loads without remote code here;
# folders whose tokenizer_config.json names another class (BertTokenizer) still get that class.
AutoTokenizer.register(ConvBertConfig, tokenizer_class=ConvBertByteTokenizer, exist_ok=True)

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
    "ConvBertByteTokenizer",
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
