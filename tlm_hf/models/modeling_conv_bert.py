"""ConvBert: the BERT-6 and BERT-1 (+ convolutional layers) encoders of "Tiny Language Models".

The layout follows BERT (`bert.embeddings`, `bert.encoder.layer.N`, `cls.predictions`), so a ConvBert
without convolutional layers has exactly the weights of a `BertForMaskedLM`. The convolutional front
end sits between the embeddings and the first transformer block (`bert.conv`).

This file is copied next to saved weights so that a folder loads with `trust_remote_code=True` where
`tlm_hf` is not installed: it imports only torch, transformers and its sibling configuration file.
"""

import os
from collections.abc import Callable
from pathlib import Path

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

from .configuration_conv_bert import BYTE_PAD, BYTE_VOCAB_SIZE, ConvBertConfig


def word_embedding_size(config: ConvBertConfig) -> int:
    """Width of the word embeddings and of the tied MLM decoder: `embedding_size` (factorised), else `hidden_size`."""
    return config.hidden_size if config.embedding_size is None else config.embedding_size


def apply_dropout(hidden_states: torch.Tensor, p: float, training: bool, fast: bool = False) -> torch.Tensor:
    """`nn.functional.dropout`, or with `fast` (the config's `fast_dropout`) on a CPU, masks from 16 random bits
    per element: torch draws one 64-bit number per element for Bernoulli masks on CPUs where it does not use MKL's
    generator (AMD), slower than the matmuls of a tiny model. Four masks per 64-bit word; the drop probability is
    `p` rounded to a multiple of 1/65536, and kept values are scaled by the exact inverse of the kept fraction."""
    if not (fast and training and 0 < p < 1 and hidden_states.device.type == "cpu"):
        return nn.functional.dropout(hidden_states, p=p, training=training)
    dropped = round(p * 65536)
    words = torch.empty((hidden_states.numel() + 3) // 4, dtype=torch.int64).random_(-(2**63), None)
    keep = words.view(torch.int16)[: hidden_states.numel()].view(hidden_states.shape) >= dropped - 32768
    return hidden_states * keep * (65536 / (65536 - dropped))


class ConvBertDropout(nn.Dropout):
    """nn.Dropout, with the config's `fast_dropout` choice (see `apply_dropout`)."""

    def __init__(self, p: float, config: ConvBertConfig):
        super().__init__(p)
        self.config = config

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        return apply_dropout(hidden_states, self.p, self.training, self.config.fast_dropout)


class ConvBertEmbeddings(nn.Module):
    """Word (projected, if factorised) + position + token-type embeddings, then LayerNorm and dropout (as in BERT).

    Without `word_embeddings` (byte-level input) the token vectors always arrive as `inputs_embeds`."""

    def __init__(self, config: ConvBertConfig, word_embeddings: bool = True):
        super().__init__()
        self.word_embeddings = (
            nn.Embedding(config.vocab_size, word_embedding_size(config), padding_idx=config.pad_token_id)
            if word_embeddings else None
        )
        # ALBERT's factorised embedding: `embedding_size`-wide token vectors (and inputs_embeds), projected.
        factorised = config.embedding_size is not None
        self.word_projection = nn.Linear(config.embedding_size, config.hidden_size) if factorised else None
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.dropout = ConvBertDropout(config.hidden_dropout_prob, config)

    def forward(self, input_ids=None, token_type_ids=None, position_ids=None, inputs_embeds=None):
        if inputs_embeds is None:
            inputs_embeds = self.word_embeddings(input_ids)
        if self.word_projection is not None:
            inputs_embeds = self.word_projection(inputs_embeds)
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


TOKEN_BUCKET = 64  # with unpad_tokens, the blocks see a multiple of this many rows (see ConvBertUnpadding)


class ConvBertUnpadding:
    """Where the real tokens of a padded batch are (`unpad_tokens`): `unpad` keeps their rows, `pad` puts rows
    back in `(batch, sequence, ...)` with zeros at the other positions. Both are differentiable gathers/scatters.

    The rows kept are the real tokens and the first few padding positions, up to a multiple of TOKEN_BUCKET: a CPU
    matmul library builds and caches a kernel per shape, and a new row count every step would rebuild them every
    step. The padding rows kept are computed as in a padded batch; attention masks them as keys either way."""

    def __init__(self, padding_mask: torch.Tensor):
        self.shape = padding_mask.shape
        keep = padding_mask.flatten().bool()
        padding = (~keep).nonzero().squeeze(1)
        keep[padding[: -int(keep.sum()) % TOKEN_BUCKET]] = True
        self.indices = keep.nonzero().squeeze(1)

    def unpad(self, padded: torch.Tensor) -> torch.Tensor:
        return padded.flatten(0, 1).index_select(0, self.indices)

    def pad(self, rows: torch.Tensor) -> torch.Tensor:
        padded = rows.new_zeros(self.shape.numel(), *rows.shape[1:]).index_copy(0, self.indices, rows)
        return padded.view(*self.shape, *rows.shape[1:])


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
        self.dropout = ConvBertDropout(config.attention_probs_dropout_prob, config)

    def forward(self, hidden_states, attention_mask=None, unpadding: ConvBertUnpadding | None = None, **kwargs):
        query, key, value = self.query(hidden_states), self.key(hidden_states), self.value(hidden_states)
        if unpadding is not None:  # rows of real tokens: attention reads them in (batch, sequence) layout
            query, key, value = unpadding.pad(query), unpadding.pad(key), unpadding.pad(value)
        input_shape = query.shape[:-1]
        hidden_shape = (*input_shape, -1, self.head_dim)
        query, key, value = (states.view(hidden_shape).transpose(1, 2) for states in (query, key, value))
        attention_interface: Callable = ALL_ATTENTION_FUNCTIONS.get_interface(
            self.config._attn_implementation, eager_attention_forward
        )
        attn_output, attn_weights = attention_interface(
            self, query, key, value, attention_mask,
            dropout=self.dropout.p if self.training else 0.0, scaling=self.scaling, **kwargs,
        )
        attn_output = attn_output.reshape(*input_shape, -1)
        return (attn_output.contiguous() if unpadding is None else unpadding.unpad(attn_output)), attn_weights


def eager_attention_forward(module, query, key, value, attention_mask, scaling, dropout=0.0, **kwargs):
    attn_weights = torch.matmul(query, key.transpose(2, 3)) * scaling
    if attention_mask is not None:
        attn_weights = attn_weights + attention_mask
    attn_weights = nn.functional.softmax(attn_weights, dim=-1)
    attn_weights = apply_dropout(attn_weights, dropout, module.training, module.config.fast_dropout)
    return torch.matmul(attn_weights, value).transpose(1, 2).contiguous(), attn_weights


class ConvBertResidual(nn.Module):
    """Dense -> dropout -> + residual: how a sublayer of a pre-LayerNorm block ends."""

    def __init__(self, config: ConvBertConfig, in_features: int):
        super().__init__()
        self.dense = nn.Linear(in_features, config.hidden_size)
        self.dropout = ConvBertDropout(config.hidden_dropout_prob, config)

    def forward(self, hidden_states, residual):
        return self.dropout(self.dense(hidden_states)) + residual


class ConvBertOutput(ConvBertResidual):
    """Dense -> dropout -> + residual -> LayerNorm: how a sublayer of a post-LayerNorm block (BERT) ends."""

    def __init__(self, config: ConvBertConfig, in_features: int):
        super().__init__(config, in_features)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, residual):
        return self.LayerNorm(super().forward(hidden_states, residual))


class ConvBertAttention(nn.Module):
    """The attention sublayer of a post-LayerNorm block: LN(x + attn(x))."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.self = ConvBertSelfAttention(config)
        self.output = ConvBertOutput(config, config.hidden_size)

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        attn_output, _ = self.self(hidden_states, attention_mask, **kwargs)
        return self.output(attn_output, hidden_states)


class ConvBertPreNormAttention(nn.Module):
    """The attention sublayer of a pre-LayerNorm block: x + attn(LN(x))."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.self = ConvBertSelfAttention(config)
        self.output = ConvBertResidual(config, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        attn_output, _ = self.self(self.LayerNorm(hidden_states), attention_mask, **kwargs)
        return self.output(attn_output, hidden_states)


class ConvBertIntermediate(nn.Module):
    """The feed-forward network's first dense layer and activation."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size)
        self.intermediate_act_fn = ACT2FN[config.hidden_act]

    def forward(self, hidden_states):
        return self.intermediate_act_fn(self.dense(hidden_states))


class ConvBertPreNormIntermediate(ConvBertIntermediate):
    """LayerNorm, then the feed-forward network's first dense layer and activation (a pre-LayerNorm block)."""

    def __init__(self, config: ConvBertConfig):
        super().__init__(config)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        return super().forward(self.LayerNorm(hidden_states))


class ConvBertLayer(GradientCheckpointingLayer):
    """A post-LayerNorm transformer block, BERT's, with BERT's weight names: x = LN(x + attn(x)), then
    x = LN(x + ffn(x)), where ffn(x) = output(intermediate(x)).

    Without `own_ffn` (share_ffn) the block holds no feed-forward sublayer and runs the one `forward` is given."""

    attention_class = ConvBertAttention
    intermediate_class = ConvBertIntermediate
    output_class = ConvBertOutput

    def __init__(self, config: ConvBertConfig, own_ffn: bool = True):
        super().__init__()
        self.attention = self.attention_class(config)
        self.intermediate = self.intermediate_class(config) if own_ffn else None
        self.output = self.output_class(config, config.intermediate_size) if own_ffn else None

    def forward(self, hidden_states, attention_mask=None, shared_ffn=None, **kwargs):
        attention_output = self.attention(hidden_states, attention_mask, **kwargs)
        if shared_ffn is not None:
            return shared_ffn(attention_output)
        return self.output(self.intermediate(attention_output), attention_output)


class ConvBertPreNormLayer(ConvBertLayer):
    """A pre-LayerNorm transformer block (Cramming, academic-budget BERT): x = x + attn(LN(x)), then
    x = x + ffn(LN(x)). The same `forward`: its sublayers normalise their input (`attention.LayerNorm`,
    `intermediate.LayerNorm`) and add without a norm after."""

    attention_class = ConvBertPreNormAttention
    intermediate_class = ConvBertPreNormIntermediate
    output_class = ConvBertResidual


class ConvBertSharedFeedForward(nn.Module):
    """The one feed-forward sublayer (a block's `intermediate` and `output`) that every block runs with
    `share_ffn` (MobiLlama). The encoder owns it, so its weights are one tensor in memory and in the checkpoint."""

    def __init__(self, config: ConvBertConfig, layer_class: type[ConvBertLayer]):
        super().__init__()
        self.intermediate = layer_class.intermediate_class(config)
        self.output = layer_class.output_class(config, config.intermediate_size)

    def forward(self, hidden_states):
        return self.output(self.intermediate(hidden_states), hidden_states)


class ConvBertEncoder(nn.Module):
    """The transformer blocks, where `norm_position`, `share_ffn` and `share_blocks` act (and nowhere else).

    `norm_position` chooses the block class: post-LayerNorm (BERT) or pre-LayerNorm, whose encoder then normalises
    the last block's output (`LayerNorm`): its residual stream is otherwise never normalised. Shared weights are
    modules owned once (no tied copies): with `share_blocks` (ALBERT) the encoder holds one block, `layer.0`, and
    runs it `num_hidden_layers` times; with `share_ffn` it holds the blocks' `shared_ffn`."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        pre_norm = config.norm_position == "pre"
        layer_class = ConvBertPreNormLayer if pre_norm else ConvBertLayer
        num_blocks = 1 if config.share_blocks else config.num_hidden_layers
        self.runs_per_block = config.num_hidden_layers // num_blocks
        self.layer = nn.ModuleList(layer_class(config, own_ffn=not config.share_ffn) for _ in range(num_blocks))
        self.shared_ffn = ConvBertSharedFeedForward(config, layer_class) if config.share_ffn else None
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps) if pre_norm else None

    def forward(self, hidden_states, attention_mask=None, **kwargs):
        for _ in range(self.runs_per_block):
            for layer in self.layer:
                hidden_states = layer(hidden_states, attention_mask, shared_ffn=self.shared_ffn, **kwargs)
        return hidden_states if self.LayerNorm is None else self.LayerNorm(hidden_states)


class ConvBertPooler(nn.Module):
    """tanh(dense(summary)): the summary is the first, [CLS], hidden state, or with `classifier_pooling="mean"`
    the mean of the hidden states over non-padding positions (so padding cannot change it)."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.mean_pooling = config.classifier_pooling == "mean"
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.activation = nn.Tanh()

    def forward(self, hidden_states, padding_mask=None):
        if not self.mean_pooling:
            summary = hidden_states[:, 0]
        elif padding_mask is None:
            summary = hidden_states.mean(dim=1)
        else:
            keep = padding_mask.unsqueeze(-1).to(hidden_states.dtype)
            summary = (hidden_states * keep).sum(dim=1) / keep.sum(dim=1)
        return self.activation(self.dense(summary))


class ConvBertPredictionHeadTransform(nn.Module):
    """Dense -> activation -> LayerNorm, from the hidden size to the token embeddings' width."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, word_embedding_size(config))
        self.transform_act_fn = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(word_embedding_size(config), eps=config.layer_norm_eps)

    def forward(self, hidden_states):
        return self.LayerNorm(self.transform_act_fn(self.dense(hidden_states)))


class ConvBertLMPredictionHead(nn.Module):
    """Transform, then a vocabulary projection whose weight is tied to the word embeddings."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.transform = ConvBertPredictionHeadTransform(config)
        self.decoder = nn.Linear(word_embedding_size(config), config.vocab_size, bias=True)
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden_states):
        return self.decoder(self.transform(hidden_states))


class ConvBertOnlyMLMHead(nn.Module):
    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.predictions = ConvBertLMPredictionHead(config)

    def forward(self, sequence_output):
        return self.predictions(sequence_output)


# Byte-level input (`input_mode="bytes"`, STLM §5.2): no vocabulary-sized weight. Each token arrives as its UTF-8
# bytes (`input_bytes`, see tokenization_conv_bert.py); a small transformer over each token's bytes is pooled into the
# token's vector, and the MLM head decodes a token's final hidden state back into its bytes.


class ConvBertByteBlock(nn.Module):
    """A small pre-LayerNorm transformer block over the bytes of one token (tokens are the batch)."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        size = config.byte_embedding_size
        self.num_heads = config.byte_attention_heads
        self.attention_norm = nn.LayerNorm(size, eps=config.layer_norm_eps)
        self.qkv = nn.Linear(size, 3 * size)
        self.attention_output = nn.Linear(size, size)
        self.ffn_norm = nn.LayerNorm(size, eps=config.layer_norm_eps)
        self.ffn_in = nn.Linear(size, 4 * size)
        self.ffn_act = ACT2FN[config.hidden_act]
        self.ffn_out = nn.Linear(4 * size, size)
        self.dropout = ConvBertDropout(config.hidden_dropout_prob, config)

    def forward(self, hidden_states: torch.Tensor, byte_mask: torch.Tensor) -> torch.Tensor:
        """`hidden_states` `(tokens, bytes, size)`; `byte_mask` `(tokens, bytes)`, True where a byte is."""
        tokens, length, size = hidden_states.shape
        qkv = self.qkv(self.attention_norm(hidden_states)).view(tokens, length, 3, self.num_heads, -1)
        query, key, value = qkv.permute(2, 0, 3, 1, 4)  # each (tokens, heads, bytes, head size)
        attended = nn.functional.scaled_dot_product_attention(
            query, key, value, attn_mask=byte_mask[:, None, None, :], dropout_p=self.dropout.p if self.training else 0.0
        )
        attended = attended.transpose(1, 2).reshape(tokens, length, size)
        hidden_states = hidden_states + self.dropout(self.attention_output(attended))
        return hidden_states + self.dropout(self.ffn_out(self.ffn_act(self.ffn_in(self.ffn_norm(hidden_states)))))


class ConvBertByteEmbeddings(nn.Module):
    """Token vectors from bytes: byte + byte-position embeddings -> byte blocks -> mean over the token's bytes ->
    linear to hidden_size. Special tokens ([PAD], [CLS], [SEP], [MASK], told apart by `input_ids`) have no bytes
    and get learned vectors (`special_embeddings`). The result replaces the word embeddings: position and token-type
    embeddings are added after it as usual."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.special_token_ids = config.byte_special_token_ids  # a list, not a buffer: committees vmap over buffers
        self.byte_embeddings = nn.Embedding(BYTE_VOCAB_SIZE, config.byte_embedding_size, padding_idx=BYTE_PAD)
        self.position_embeddings = nn.Embedding(config.max_token_bytes, config.byte_embedding_size)
        self.layers = nn.ModuleList(ConvBertByteBlock(config) for _ in range(config.byte_encoder_layers))
        self.LayerNorm = nn.LayerNorm(config.byte_embedding_size, eps=config.layer_norm_eps)
        self.projection = nn.Linear(config.byte_embedding_size, config.hidden_size)
        self.special_embeddings = nn.Embedding(len(self.special_token_ids), config.hidden_size)

    def forward(self, input_ids: torch.Tensor, input_bytes: torch.Tensor) -> torch.Tensor:
        """`input_ids` `(batch, sequence)`, `input_bytes` `(batch, sequence, max_token_bytes)` -> `(batch, sequence,
        hidden)`. Every token runs through the byte blocks on its own, so padding cannot change a real token."""
        batch, sequence, length = input_bytes.shape
        token_bytes = input_bytes.reshape(batch * sequence, length)
        byte_mask = token_bytes != BYTE_PAD
        byte_mask[:, 0] = True  # tokens without bytes (special tokens) attend to their first slot: no empty softmax
        hidden_states = self.byte_embeddings(token_bytes) + self.position_embeddings.weight[:length]
        for layer in self.layers:
            hidden_states = layer(hidden_states, byte_mask)
        hidden_states = self.LayerNorm(hidden_states)
        keep = byte_mask.unsqueeze(-1).to(hidden_states.dtype)
        pooled = (hidden_states * keep).sum(dim=1) / keep.sum(dim=1)
        token_vectors = self.projection(pooled).view(batch, sequence, -1)
        # Which special token each position is (index into special_embeddings), or none.
        matches = torch.stack([input_ids == token_id for token_id in self.special_token_ids], dim=-1)
        special_vectors = self.special_embeddings(matches.int().argmax(dim=-1))
        return torch.where(matches.any(dim=-1, keepdim=True), special_vectors, token_vectors)


class ConvBertByteLMHead(nn.Module):
    """Decodes a token's final hidden state into its bytes: transform, a linear to one `byte_embedding_size` vector
    per byte slot, GELU and LayerNorm, then a projection onto the byte vocabulary (tied to the byte embeddings).

    Slot i predicts the token's i-th byte id; the slot after the last byte predicts `BYTE_PAD` (end of token)."""

    def __init__(self, config: ConvBertConfig):
        super().__init__()
        self.max_token_bytes = config.max_token_bytes
        self.transform = ConvBertPredictionHeadTransform(config)
        self.expand = nn.Linear(config.hidden_size, config.max_token_bytes * config.byte_embedding_size)
        self.act = ACT2FN[config.hidden_act]
        self.LayerNorm = nn.LayerNorm(config.byte_embedding_size, eps=config.layer_norm_eps)
        self.decoder = nn.Linear(config.byte_embedding_size, BYTE_VOCAB_SIZE)

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """`(..., hidden)` -> byte logits `(..., max_token_bytes, BYTE_VOCAB_SIZE)`."""
        slots = self.expand(self.transform(hidden_states)).unflatten(-1, (self.max_token_bytes, -1))
        return self.decoder(self.LayerNorm(self.act(slots)))


def damaged_weights_error(source, err: Exception) -> OSError:
    """One line naming the weights file of `source` (a folder or Hub id) that does not read, and the fix."""
    from safetensors import safe_open

    folder = Path(os.fspath(source))
    named = f"the weights of {source}"
    for file in sorted(folder.glob("*.safetensors")) if folder.is_dir() else []:
        try:
            with safe_open(str(file), framework="pt"):
                pass
        except Exception:
            named = str(file)
            break
    first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    return OSError(f"{named} is damaged ({first_line}); restore it, or save or download the model again")


class NamesDamagedWeights:
    """transformers' loading (also behind the Auto classes), with a damaged weights file (a run killed while saving,
    a download cut short) an OSError naming the file, not safetensors' error naming none; ConvBert's models and the
    soft committee load through it."""

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        try:
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except Exception as err:
            if type(err).__name__ != "SafetensorError":
                raise
            raise damaged_weights_error(pretrained_model_name_or_path, err) from None


class ConvBertPreTrainedModel(NamesDamagedWeights, PreTrainedModel):
    config_class = ConvBertConfig
    config: ConvBertConfig
    base_model_prefix = "bert"
    supports_gradient_checkpointing = True
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_flex_attn = True
    _supports_attention_backend = True
    _no_split_modules = ["ConvBertEmbeddings", "ConvBertConvFrontEnd", "ConvBertLayer", "ConvBertPreNormLayer"]
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
        # Byte-level input (STLM) is chosen here, once: ConvBertByteEmbeddings turn each token's bytes into the
        # token vectors that word embeddings give otherwise (ConvBertForMaskedLM's head follows this choice).
        byte_level = config.input_mode == "bytes"
        self.embeddings = ConvBertEmbeddings(config, word_embeddings=not byte_level)
        self.byte_embeddings = ConvBertByteEmbeddings(config) if byte_level else None
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
        input_bytes: torch.Tensor | None = None,
        **kwargs,
    ) -> BaseModelOutputWithPooling:
        if self.byte_embeddings is not None and inputs_embeds is None:
            if input_ids is None or input_bytes is None:
                raise ValueError(
                    "A byte-level ConvBert (input_mode='bytes') needs input_ids and input_bytes: tokenize with the "
                    "tokenizer saved with the model (ConvBertByteTokenizer)."
                )
            inputs_embeds, input_ids = self.byte_embeddings(input_ids, input_bytes), None
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("ConvBertModel needs exactly one of input_ids or inputs_embeds.")
        self._check_inputs(input_ids, attention_mask, inputs_embeds)
        seq_length = (input_ids if input_ids is not None else inputs_embeds).shape[1]
        if seq_length > self.config.max_position_embeddings:
            raise ValueError(
                f"Input has {seq_length} tokens but the model takes at most {self.config.max_position_embeddings} "
                "(max_position_embeddings): truncate the input, e.g. tokenizer(..., truncation=True, max_length=128)."
            )
        hidden_states = self.embeddings(input_ids, token_type_ids, position_ids, inputs_embeds)
        if self.conv is not None:
            hidden_states = self.conv(hidden_states, attention_mask)
        encoder_mask = create_bidirectional_mask(
            config=self.config, inputs_embeds=hidden_states, attention_mask=attention_mask
        )
        unpadding = self._unpadding(attention_mask, kwargs)
        if unpadding is not None:
            kwargs["unpadding"] = unpadding
            hidden_states = unpadding.unpad(hidden_states)
        sequence_output = self.encoder(hidden_states, encoder_mask, **kwargs)
        if unpadding is not None:
            sequence_output = unpadding.pad(sequence_output)
        pooled_output = self.pooler(sequence_output, attention_mask) if self.pooler is not None else None
        return BaseModelOutputWithPooling(last_hidden_state=sequence_output, pooler_output=pooled_output)

    def _unpadding(self, attention_mask, kwargs) -> ConvBertUnpadding | None:
        """With `unpad_tokens`, the real tokens' places when the batch has padding; None to run padded (no padding,
        hidden states to record per block, or a compiled graph, which data-dependent shapes would break)."""
        if not self.config.unpad_tokens or attention_mask is None or torch.compiler.is_compiling():
            return None
        if kwargs.get("output_hidden_states", self.config.output_hidden_states) or bool(attention_mask.all()):
            return None
        return ConvBertUnpadding(attention_mask)

    def _check_inputs(self, input_ids, attention_mask, inputs_embeds):
        """Refuse inputs that would otherwise fail deep inside torch (an embedding index error, a broadcasting
        error in attention) or silently misalign the padding mask.

        Token ids are range-checked on the CPU only: on an accelerator reading their range back would stop the
        host every step (a device sync), and an id out of range fails there in the embedding anyway."""
        name, tokens = ("input_ids", input_ids) if input_ids is not None else ("inputs_embeds", inputs_embeds)
        if attention_mask is not None and attention_mask.shape != tokens.shape[:2]:
            raise ValueError(
                f"attention_mask has shape {tuple(attention_mask.shape)} but {name} has shape "
                f"{tuple(tokens.shape[:2])} (batch, sequence): pass the attention_mask returned with the tokens."
            )
        if input_ids is None or input_ids.device.type != "cpu" or torch.compiler.is_compiling():
            return  # no sync on an accelerator; and a data-dependent check would break a compiled graph
        low, high = torch.stack(torch.aminmax(input_ids)).tolist()  # one reduction
        vocab_size = self.config.vocab_size
        if low < 0 or high >= vocab_size:
            raise ValueError(
                f"input_ids contains the id {low if low < 0 else high}, outside this model's vocabulary "
                f"(vocab_size={vocab_size}, ids 0..{vocab_size - 1}): tokenize with the model's own tokenizer."
            )


ROW_BUCKET = 256  # with sparse_prediction, labelled rows reach the MLM head in multiples of this


class ConvBertForMaskedLM(ConvBertPreTrainedModel):
    """Masked language model: `logits` `(batch, sequence, vocab_size)`, and with `labels` the mean cross-entropy
    over labelled positions.

    With `config.sparse_prediction` and `labels`, only labelled positions reach the vocabulary projection, and
    `logits` hold one row per labelled position (`(num_labelled, vocab_size)`, in row-major order).

    Byte-level (`input_mode="bytes"`): `labels` are byte ids `(batch, sequence, max_token_bytes)` (see
    `tlm_hf.data.bytes`), a token's hidden state is decoded into its bytes (`ConvBertByteLMHead`), the loss is the
    mean cross-entropy over labelled bytes, and `logits` are `(batch, sequence, max_token_bytes, 258)`
    (`(num_labelled, max_token_bytes, 258)` with sparse prediction).
    """

    _tied_weights_keys = {
        "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
        "cls.predictions.decoder.bias": "cls.predictions.bias",
    }

    def __init__(self, config: ConvBertConfig):
        super().__init__(config)
        self.bert = ConvBertModel(config, add_pooling_layer=False)
        if self.bert.byte_embeddings is not None:  # the head that decodes what the embeddings read: bytes
            self.cls = ConvBertByteLMHead(config)
            self._tied_weights_keys = {"cls.decoder.weight": "bert.byte_embeddings.byte_embeddings.weight"}
        else:
            self.cls = ConvBertOnlyMLMHead(config)
        self.post_init()
        # Tied weights are not stored; naming them here lets Trainer re-tie them on --resume instead of warning
        # that the checkpoint misses them.
        self._keys_to_ignore_on_save = set(self._tied_weights_keys)

    def get_output_embeddings(self):
        return self.cls.predictions.decoder if isinstance(self.cls, ConvBertOnlyMLMHead) else None

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
        input_bytes: torch.Tensor | None = None,
        **kwargs,
    ) -> MaskedLMOutput:
        outputs = self.bert(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            position_ids=position_ids, inputs_embeds=inputs_embeds, input_bytes=input_bytes, return_dict=True,
            **kwargs,
        )
        sequence_output = outputs.last_hidden_state
        if labels is not None and self.config.sparse_prediction:
            labelled = labels != -100
            if labels.dim() == 3:  # byte labels (batch, sequence, max_token_bytes): decode tokens with any label
                labelled = labelled.any(dim=-1)
            rows, labels = sequence_output[labelled], labels[labelled]
            # The number of labelled rows changes every batch; padding it to a multiple of ROW_BUCKET gives the
            # projection a few shapes instead of one per batch (CPU matmul libraries build and cache a kernel per
            # shape: memory grows and steps slow down). The padding rows are dropped before the loss.
            padding = -len(rows) % ROW_BUCKET
            logits = self.cls(nn.functional.pad(rows, (0, 0, 0, padding)))[: len(rows)]
        else:
            logits = self.cls(sequence_output)
        loss = None
        if labels is not None:  # float32 loss; `num_items_in_batch` keeps gradient accumulation exact
            loss = fixed_cross_entropy(logits.float().flatten(0, -2), labels.flatten(), num_items_in_batch)
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
        self.dropout = ConvBertDropout(dropout, config)
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
        input_bytes: torch.Tensor | None = None,
        **kwargs,
    ) -> SequenceClassifierOutput:
        outputs = self.bert(
            input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
            position_ids=position_ids, inputs_embeds=inputs_embeds, input_bytes=input_bytes, return_dict=True,
            **kwargs,
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
