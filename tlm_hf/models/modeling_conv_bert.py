"""ConvBert: the BERT-6 and BERT-1 (+ convolutional layers) encoders of "Tiny Language Models".

The layout follows BERT (`bert.embeddings`, `bert.encoder.layer.N`, `cls.predictions`), so a ConvBert
without convolutional layers has exactly the weights of a `BertForMaskedLM`. The convolutional front
end sits between the embeddings and the first transformer block (`bert.conv`).

This file is copied next to saved weights so that a folder loads with `trust_remote_code=True` where
`tlm_hf` is not installed: it imports only torch, transformers and its sibling configuration file.
"""

from collections.abc import Callable

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.activations import ACT2FN
from transformers.loss.loss_utils import fixed_cross_entropy
from transformers.masking_utils import create_bidirectional_mask
from transformers.modeling_layers import GradientCheckpointingLayer
from transformers.modeling_outputs import BaseModelOutputWithPooling, MaskedLMOutput, SequenceClassifierOutput
from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
from transformers.utils.generic import can_return_tuple, merge_with_config_defaults
from transformers.utils.output_capturing import capture_outputs

from .configuration_conv_bert import ConvBertConfig


class ConvBertEmbeddings(nn.Module):
    """Word + position + token-type embeddings, then LayerNorm and dropout (as in BERT)."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=config.pad_token_id)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        seq_length = inputs_embeds.shape[1]
        if position_ids is None:
            position_ids = torch.arange(seq_length, device=inputs_embeds.device).unsqueeze(0)
        embeddings = inputs_embeds + self.position_embeddings(position_ids)
        if token_type_ids is None:
            embeddings = embeddings + self.token_type_embeddings.weight[0]
        else:
            embeddings = embeddings + self.token_type_embeddings(token_type_ids)
        return self.dropout(self.LayerNorm(embeddings))


class ConvBertConvLayer(nn.Module):
    """One convolutional layer (CL): Conv2d ("same" padding, also for even kernels) -> BatchNorm2d -> GELU."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size=tuple(kernel_size), padding="same")
        self.norm = nn.BatchNorm2d(out_channels)
        self.act = nn.GELU()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.act(self.norm(self.conv(images)))


class ConvBertConvFrontEnd(nn.Module):
    """The paper's CL block: the (sequence x hidden) matrix as a one-channel image.

    Padding positions are zeroed before every convolution, so that in eval mode a sequence gives the
    same output whether or not it was padded (the paper's code lets padding leak into real tokens).
    """

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        channels = [1] + [config.conv_channels] * config.num_conv_layers
        self.layers = nn.ModuleList(
            ConvBertConvLayer(channels[i], channels[i + 1], config.conv_kernel_size)
            for i in range(config.num_conv_layers)
        )
        self.projection = ConvBertConvLayer(config.conv_channels, 1, (1, 1))

    def forward(self, hidden_states: torch.Tensor, padding_mask: torch.Tensor | None) -> torch.Tensor:
        images = hidden_states.unsqueeze(1)  # (batch, 1, sequence, hidden)
        keep = None if padding_mask is None else padding_mask[:, None, :, None].to(images.dtype)
        for layer in [*self.layers, self.projection]:
            images = layer(images if keep is None else images * keep)
        return images.squeeze(1)


class ConvBertSelfAttention(nn.Module):
    """Bidirectional multi-head self-attention through the transformers attention interface."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.config = config
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.scaling = self.head_dim**-0.5
        self.is_causal = False  # SDPA assumes causal attention unless told otherwise
        self.query = nn.Linear(config.hidden_size, config.hidden_size)
        self.key = nn.Linear(config.hidden_size, config.hidden_size)
        self.value = nn.Linear(config.hidden_size, config.hidden_size)
        self.dropout = nn.Dropout(config.attention_probs_dropout_prob)

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        input_shape = hidden_states.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        query = self.query(hidden_states).view(hidden_shape).transpose(1, 2)
        key = self.key(hidden_states).view(hidden_shape).transpose(1, 2)
        value = self.value(hidden_states).view(hidden_shape).transpose(1, 2)
        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self, query, key, value, attention_mask,
            dropout=self.dropout.p if self.training else 0.0, scaling=self.scaling, **kwargs,
        )
        return attn_output.reshape(*input_shape, -1).contiguous(), attn_weights


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1)
    attn_weights = nn.functional.dropout(attn_weights, p=dropout, training=module.training)
    return torch.matmul(attn_weights, value).transpose(1, 2).contiguous(), attn_weights


class ConvBertAttention(nn.Module):
    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.self = ConvBertSelfAttention(config)
        self.output = ConvBertResidualOutput(config, config.hidden_size)

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        attn_output, _ = self.self(hidden_states, attention_mask, **kwargs)
        return self.output(attn_output, hidden_states)


class ConvBertResidualOutput(nn.Module):
    """Dense -> dropout -> LayerNorm(residual + x): closes both the attention and the FFN sublayer."""

    def __init__(self, config: ConvBertConfig, in_features: int):
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + residual)


class ConvBertIntermediate(nn.Module):
    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACT2FN[config.hidden_act]

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class ConvBertLayer(GradientCheckpointingLayer):
    """One post-LayerNorm transformer block, as in BERT."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.attention = ConvBertAttention(config)
        self.intermediate = ConvBertIntermediate(config)
        self.output = ConvBertResidualOutput(config, config.intermediate_size)

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        attention_output = self.attention(hidden_states, attention_mask, **kwargs)
        return self.output(self.intermediate(attention_output), attention_output)


class ConvBertEncoder(nn.Module):
    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.layer = nn.ModuleList(ConvBertLayer(config) for _ in range(config.num_hidden_layers))

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        for layer in self.layer:
            hidden_states = layer(hidden_states, attention_mask, **kwargs)
        return hidden_states


class ConvBertPooler(nn.Module):
    """tanh(dense(hidden state of the first, [CLS], token))."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states):
        return self.activation(self.dense(hidden_states[:, 0]))


class ConvBertPredictionHeadTransform(nn.Module):
    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.transform_act_fn = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class ConvBertLMPredictionHead(nn.Module):
    """Transform, then a vocabulary projection whose weight is tied to the word embeddings."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.transform = ConvBertPredictionHeadTransform(config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=True)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class ConvBertOnlyMLMHead(nn.Module):
    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.predictions = ConvBertLMPredictionHead(config)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


class ConvBertPreTrainedModel(PreTrainedModel):
    config_class = ConvBertConfig
    config: ConvBertConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _no_split_modules = ["ConvBertEmbeddings", "ConvBertConvFrontEnd", "ConvBertLayer"]
    _can_record_outputs = {"hidden_states": ConvBertLayer, "attentions": ConvBertSelfAttention}

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, ConvBertLMPredictionHead):
            module.bias.zero_()


class ConvBertModel(ConvBertPreTrainedModel):
    """Embeddings -> optional CL front end -> transformer blocks -> optional pooler."""

    def __init__(self, config: ConvBertConfig, add_pooling_layer: bool = True):
        super().__init__(config)
        self.embeddings = ConvBertEmbeddings(config)
        self.conv = ConvBertConvFrontEnd(config) if config.num_conv_layers > 0 else None
        self.encoder = ConvBertEncoder(config)
        self.pooler = ConvBertPooler(config) if add_pooling_layer else None
        self.post_init()

    def get_input_embeddings(self):
        return self.embeddings.word_embeddings

    def set_input_embeddings(self, value):
        self.embeddings.word_embeddings = value

    @merge_with_config_defaults
    @capture_outputs
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling:
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("ConvBertModel needs exactly one of input_ids or inputs_embeds.")
        seq_length = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        if seq_length > self.config.max_position_embeddings:
            raise ValueError(
                f"Input has {seq_length} tokens but the model takes at most {self.config.max_position_embeddings} "
                "(max_position_embeddings): truncate the input, e.g. tokenizer(..., truncation=True, max_length=128)."
            )
        hidden_states = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        if self.conv is not None:
            hidden_states = self.conv(hidden_states, attention_mask)
        attention_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask
        )
        sequence_output = self.encoder(hidden_states, attention_mask, **kwargs)
        pooled_output = self.pooler(sequence_output) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=sequence_output, pooler_output=pooled_output)


class ConvBertForMaskedLM(ConvBertPreTrainedModel):
    """Masked language model. With labels, only labelled positions reach the vocabulary projection.

    Projecting every position onto a 30k vocabulary dominates a tiny model's cost, although only ~15% of
    positions carry a label; with `labels`, `logits` therefore holds one row per labelled position
    (shape `(num_labelled, vocab_size)`, in row-major order). Without labels it holds the full
    `(batch, sequence, vocab_size)` logits, e.g. for `pipeline("fill-mask")`.
    """

    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: ConvBertConfig):
        super().__init__(config)
        self.bert = ConvBertModel(config, add_pooling_layer=False)
        self.cls = ConvBertOnlyMLMHead(config)
        self.post_init()

    def get_output_embeddings(self):
        return self.cls.predictions.decoder

    def set_output_embeddings(self, new_embeddings):
        self.cls.predictions.decoder = new_embeddings
        self.cls.predictions.bias = new_embeddings.bias

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        num_items_in_batch: torch.Tensor | int | None = None,
        **kwargs,
    ) -> MaskedLMOutput:
        outputs = self.bert(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            position_ids=position_ids, inputs_embeds=inputs_embeds, return_dict=True, **kwargs,
        )
        sequence_output = outputs.last_hidden_state
        loss = None
        if labels is not None:
            labelled = labels != -100
            logits = self.cls(sequence_output[labelled])
            # float32 loss on the labelled rows only; `num_items_in_batch` keeps gradient accumulation exact.
            loss = fixed_cross_entropy(logits.float(), labels[labelled], num_items_in_batch)
        else:
            logits = self.cls(sequence_output)
        return MaskedLMOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


class ConvBertForSequenceClassification(ConvBertPreTrainedModel):
    """Pooler -> dropout -> linear classifier. Loads the encoder of a `ConvBertForMaskedLM` checkpoint."""

    # A pre-trained MLM checkpoint carries its prediction head: dropping it is expected, not worth a report.
    _keys_to_ignore_on_load_unexpected = [r"^cls\."]

    def __init__(self, config: ConvBertConfig):
        super().__init__(config)
        self.num_labels = config.num_labels
        self.bert = ConvBertModel(config)
        dropout = config.classifier_dropout if config.classifier_dropout is not None else config.hidden_dropout_prob
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    @can_return_tuple
    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        num_items_in_batch: torch.Tensor | int | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        outputs = self.bert(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            position_ids=position_ids, inputs_embeds=inputs_embeds, return_dict=True, **kwargs,
        )
        logits = self.classifier(self.dropout(outputs.pooler_output))
        loss = None
        if labels is not None:
            loss = self.loss_function(labels, logits, self.config, num_items_in_batch=num_items_in_batch)
        return SequenceClassifierOutput(
            loss=loss, logits=logits, hidden_states=outputs.hidden_states, attentions=outputs.attentions
        )


__all__ = ["ConvBertModel", "ConvBertForMaskedLM", "ConvBertForSequenceClassification", "ConvBertPreTrainedModel"]

# Saving copies this file and its configuration next to the weights and writes `auto_map`.
ConvBertModel.register_for_auto_class("AutoModel")
ConvBertForMaskedLM.register_for_auto_class("AutoModelForMaskedLM")
ConvBertForSequenceClassification.register_for_auto_class("AutoModelForSequenceClassification")
