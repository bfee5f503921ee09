"""ConvBert configuration: the BERT-6 and BERT-1 (+ convolutional layers) encoders of "Tiny Language Models".

This file is copied next to saved weights so that a folder loads with `trust_remote_code=True` where
`tlm_hf` is not installed: it imports nothing from `tlm_hf`.
"""

import dataclasses
import difflib

from huggingface_hub.dataclasses import strict
from transformers import PreTrainedConfig
from transformers.utils import logging

logger = logging.get_logger(__name__)

def _bert(heads: int, blocks: int = 1, **fields) -> dict:
    """A BERT shape named by its heads: heads of 64 dimensions (hidden = 64 x heads) and a feed-forward network
    4 x hidden wide, as in BERT and in every architecture of the paper."""
    hidden = 64 * heads
    return dict(hidden_size=hidden, num_hidden_layers=blocks, num_attention_heads=heads, intermediate_size=4 * hidden,
                **fields)


def _conv(layers: int, channels: int, kernel: tuple[int, int]) -> dict:
    """`layers` convolutional layers (CLs) of `channels` channels and a (tokens x hidden) `kernel`."""
    return dict(num_conv_layers=layers, conv_channels=channels, conv_kernel_size=list(kernel))


# The paper's architectures. BERT-1 members are named after Table 8: `clN` convolutional layers (CLs)
# with `dD` channels and a `kTxH` kernel (T tokens x H hidden units), then one transformer block with
# `hN` heads of 64 dimensions.
PRESETS = {
    "bert-6": _bert(12, blocks=6),
    "bert-1-cl2-d64-k3x3-h8": _bert(8, **_conv(2, 64, (3, 3))),
    "bert-1-cl2-d64-k3x3-h12": _bert(12, **_conv(2, 64, (3, 3))),
    "bert-1-h24": _bert(24),
    "bert-1-cl2-d64-k16x3-h12": _bert(12, **_conv(2, 64, (16, 3))),
    "bert-1-cl3-d32-k3x3-h12": _bert(12, **_conv(3, 32, (3, 3))),
    # Table 9 (AG News, trained without pre-training): two plain BERT-1 and one with a single CL.
    "bert-1-h12": _bert(12),
    "bert-1-cl1-d64-k3x3-h12": _bert(12, **_conv(1, 64, (3, 3))),
    # Not in the paper: Table 8's five shapes with a third of the heads and an eighth of the channels, for
    # committees that are fast on a CPU, where 64-channel CLs over the 128 x hidden plane dominate latency.
    "bert-1-cl2-d8-k3x3-h3": _bert(3, **_conv(2, 8, (3, 3))),
    "bert-1-cl2-d8-k3x3-h4": _bert(4, **_conv(2, 8, (3, 3))),
    "bert-1-h8": _bert(8),
    "bert-1-cl2-d8-k16x3-h4": _bert(4, **_conv(2, 8, (16, 3))),
    "bert-1-cl3-d4-k3x3-h4": _bert(4, **_conv(3, 4, (3, 3))),
    # Not in the paper: the quick matrix's encoder (train/configs/quick.yaml), 2 blocks of hidden 128 with mean
    # pooling, which pre-trains and fine-tunes in minutes on a laptop CPU.
    "tiny": _bert(2, blocks=2, classifier_pooling="mean"),
    # Not in the paper: Super Tiny Language Models' ideas at its parameter targets (about 10M and 50M) and at
    # BERT-1's shape. Byte-level pooled input replaces the vocabulary-sized embedding; one feed-forward network
    # serves every block.
    "stlm-10m": _bert(8, blocks=6, share_ffn=True, input_mode="bytes"),
    "stlm-50m": _bert(12, blocks=18, share_ffn=True, input_mode="bytes"),
    "stlm-bert-1": _bert(12, input_mode="bytes"),
}


# Byte-level input (`input_mode="bytes"`, STLM §5.2): each token is given as its UTF-8 bytes, one id per byte.
BYTE_PAD = 0  # no byte: fills a token's row after its last byte, and the rows of special tokens and padding
BYTE_MASK = 1  # the mask marker: the only "byte" of a masked token
BYTE_OFFSET = 2  # byte value b has id b + BYTE_OFFSET
BYTE_VOCAB_SIZE = 256 + BYTE_OFFSET
INPUT_MODES = ("tokens", "bytes")
# In byte mode these tokens have no bytes and get learned vectors instead.
BYTE_SPECIAL_TOKENS = ("pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id")


AUTO_MAP = {
    "AutoConfig": "configuration_conv_bert.ConvBertConfig",
    "AutoModel": "modeling_conv_bert.ConvBertModel",
    "AutoModelForMaskedLM": "modeling_conv_bert.ConvBertForMaskedLM",
    "AutoModelForSequenceClassification": "modeling_conv_bert.ConvBertForSequenceClassification",
}


@strict
class ConvBertConfig(PreTrainedConfig):
    r"""
    A BERT encoder whose embeddings may pass through `num_conv_layers` 2-D convolutional layers (CLs)
    before the first transformer block. The (sequence x hidden) matrix is treated as a one-channel image;
    each CL is Conv2d -> BatchNorm2d -> GELU with `conv_channels` channels and a `conv_kernel_size`
    kernel given as (tokens, hidden) or one int for a square kernel. A final 1x1 convolution brings the
    channels back to one and its output replaces the hidden states.

    Special token ids (`pad_token_id`, `cls_token_id`, `sep_token_id`, `mask_token_id`) should be taken
    from the tokenizer the model is trained with.

    Options beyond the paper, whose defaults reproduce it:
    - `classifier_pooling`: what the classifier's pooler reads: `"cls"` the [CLS] state (BERT), `"mean"` the
      mean of the last hidden states over non-padding positions (ModernBERT's option; an MLM never trains the
      [CLS] output, so mean pooling can start fine-tuning from a more useful summary).
    - `norm_position`: `"post"` LayerNorm after each residual sum (BERT), `"pre"` LayerNorm at the input of
      each sublayer and once after the last block (Cramming, academic-budget BERT), stable at the peak
      learning rates of 1e-3 to 2e-3 that low-budget pre-training recipes use.
    - `share_ffn` (MobiLlama): every block runs one feed-forward sublayer (its two dense layers and its
      LayerNorm), which holds most of a block's weights.
    - `share_blocks` (ALBERT): one transformer block, run `num_hidden_layers` times.
    - `embedding_size` (ALBERT): token embeddings of this size E < hidden_size, projected to hidden_size;
      the MLM head maps hidden states back to E for the decoder tied to the embeddings. The embedding, most
      of a tiny model's weights, shrinks from vocab_size x hidden_size to vocab_size x E + E x hidden_size.
    - `input_mode="bytes"` (Super Tiny Language Models §5.2): no vocabulary-sized weight at all. The model reads
      each token as its UTF-8 bytes (`input_bytes`, `(batch, sequence, max_token_bytes)`, from
      `ConvBertByteTokenizer`), embeds them (`byte_embedding_size`), runs `byte_encoder_layers` small
      transformer blocks (`byte_attention_heads`) over each token's bytes and mean-pools them into the token's
      vector; [PAD] [CLS] [SEP] [MASK] keep learned vectors. The MLM head decodes a token's bytes.
      `vocab_size` then only bounds the special token ids.
    - `sparse_prediction` (ModernBERT's name): with `labels`, only labelled positions reach the MLM head, and
      `logits` hold one row per labelled position (`(num_labelled, vocab_size)`, row-major) instead of
      `(batch, sequence, vocab_size)`. Projecting every position onto a 30k vocabulary dominates a tiny model's
      cost, although only ~15% of positions carry a label; pre-training turns it on. Without labels (e.g.
      `pipeline("fill-mask")`) the logits are always full.

    Two speed switches are run settings, not fields (`RUN_OPTIONS`: never in config.json; a loaded config takes
    them as keyword arguments or attributes):

    - `unpad_tokens` (ModernBERT's unpadding): in a batch with padding, the transformer blocks' per-token layers
      (dense layers, LayerNorms, GELU, dropout) run on the real tokens only, and attention pads its queries, keys
      and values back for the padded positions it masks anyway. Random batches of texts of uneven lengths are a
      fifth to two fifths padding. Every real token gets the same arithmetic (padding positions come back as zero
      hidden states, but for the few kept to round the rows up to a bucket); hidden dropout then draws fewer random
      numbers, so a training run's masks and last digits differ from a padded run's. Not with
      `output_hidden_states`, which then returns padded states as usual.
    - `fast_dropout`: on a CPU, dropout masks from 16 random bits per element instead of torch's Bernoulli draws,
      which cost a 64-bit random number each where torch does not use MKL's generator (AMD CPUs): there dropout
      is a fifth of a tiny model's fine-tuning step. The same distribution (the drop probability rounded to a
      multiple of 1/65536), other masks than torch's for the same seed; nothing changes outside training or on GPUs.

    Example:

    ```python
    >>> from tlm_hf import ConvBertConfig, ConvBertForMaskedLM
    >>> config = ConvBertConfig.from_preset("bert-1-cl2-d64-k3x3-h8")
    >>> model = ConvBertForMaskedLM(config)
    ```"""

    model_type = "tlm_conv_bert"

    vocab_size: int = 30522
    hidden_size: int = 768
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    hidden_act: str = "gelu"
    hidden_dropout_prob: float | int = 0.1
    attention_probs_dropout_prob: float | int = 0.1
    classifier_dropout: float | int | None = None
    max_position_embeddings: int = 128
    type_vocab_size: int = 2
    initializer_range: float = 0.02
    layer_norm_eps: float = 1e-12
    num_conv_layers: int = 0
    conv_channels: int | None = None
    conv_kernel_size: int | list[int] | tuple[int, ...] | None = None
    # Options beyond the paper (see the docstring); the defaults give the paper's model.
    classifier_pooling: str = "cls"
    norm_position: str = "post"
    share_ffn: bool = False
    share_blocks: bool = False
    embedding_size: int | None = None
    pad_token_id: int | None = 0
    cls_token_id: int | None = None
    sep_token_id: int | None = None
    mask_token_id: int | None = None
    tie_word_embeddings: bool = True
    # Byte-level input (see `ConvBertByteEmbeddings`); the byte settings are read only when input_mode="bytes".
    input_mode: str = "tokens"
    max_token_bytes: int = 16
    byte_embedding_size: int = 64
    byte_encoder_layers: int = 2
    byte_attention_heads: int = 4
    sparse_prediction: bool = False
    # Speed switches (see the docstring): how this process runs the model, not the model. Plain attributes, not
    # fields, left out of config.json (`to_dict`) like transformers' attention implementation: a published model
    # loads and gives the same outputs without them. Set them on a loaded config, or as run settings.
    RUN_OPTIONS = ("unpad_tokens", "fast_dropout")
    unpad_tokens = False
    fast_dropout = False

    def __post_init__(self, **kwargs):
        self._warn_near_misses(kwargs)
        # Defaults of the paper's CLs, only when there are CLs; a square int kernel becomes [k, k].
        if self.num_conv_layers > 0:
            self.conv_channels = 64 if self.conv_channels is None else self.conv_channels
            self.conv_kernel_size = 3 if self.conv_kernel_size is None else self.conv_kernel_size
            if isinstance(self.conv_kernel_size, int):
                self.conv_kernel_size = [self.conv_kernel_size, self.conv_kernel_size]
            self.conv_kernel_size = list(self.conv_kernel_size)
        # Every head in `auto_map`, so that one saved folder loads under each Auto class with remote code.
        kwargs.setdefault("auto_map", dict(AUTO_MAP))
        super().__post_init__(**kwargs)
        self._validate()

    def to_dict(self) -> dict:
        """Every field, without the speed switches (`RUN_OPTIONS`): they are not part of the saved model."""
        output = super().to_dict()
        for name in self.RUN_OPTIONS:
            output.pop(name, None)
        return output

    def run_options(self) -> dict:
        """The speed switches this config carries, to hand on to a config made from its `to_dict`."""
        return {name: getattr(self, name) for name in self.RUN_OPTIONS}

    def _warn_near_misses(self, extra: dict) -> None:
        """Configs keep keys that are not fields, by design (transformers' own); but a key a typo away from a field is
        most likely that field misspelled, and the field silently keeps its value: say so, naming the field."""
        fields = [f.name for f in dataclasses.fields(self)]
        for key in extra:
            near = difflib.get_close_matches(key, fields, n=1, cutoff=0.85)
            if near and key not in fields:
                logger.warning(f"ConvBertConfig got {key!r}, which is not a field; did you mean {near[0]!r}? "
                               f"{near[0]} stays {getattr(self, near[0])!r}")

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "ConvBertConfig":
        """One of the paper's architectures (see `PRESETS`), with any field overridden."""
        if name not in PRESETS:
            raise ValueError(f"Unknown preset {name!r}. Known presets: {', '.join(PRESETS)}.")
        return cls(**{**PRESETS[name], **overrides})

    def _require_positive(self, *fields):
        for field in fields:
            if getattr(self, field) <= 0:
                raise ValueError(f"ConvBertConfig.{field} must be a positive integer, got {getattr(self, field)}.")

    def _validate(self):
        """Refuse configurations that would fail (or silently misbehave) deep inside torch.

        Plain `ValueError`s at construction (also when loading), not `@strict` validators, whose errors
        are not `ValueError`s and read as a stack of wrappers.
        """
        self._require_positive("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                               "intermediate_size", "max_position_embeddings", "type_vocab_size")
        if self.hidden_size % self.num_attention_heads != 0:
            raise ValueError(
                f"ConvBertConfig.hidden_size ({self.hidden_size}) must be divisible by num_attention_heads "
                f"({self.num_attention_heads}); the paper uses heads of 64, i.e. hidden_size = 64 * heads."
            )
        for field in ("hidden_dropout_prob", "attention_probs_dropout_prob"):
            if not 0 <= getattr(self, field) < 1:
                raise ValueError(f"ConvBertConfig.{field} must be in [0, 1), got {getattr(self, field)}.")
        if self.num_conv_layers < 0:
            raise ValueError(f"ConvBertConfig.num_conv_layers must be >= 0, got {self.num_conv_layers}.")
        if self.num_conv_layers == 0:
            if self.conv_channels is not None or self.conv_kernel_size is not None:
                raise ValueError(
                    "ConvBertConfig has conv_channels/conv_kernel_size but num_conv_layers=0: set num_conv_layers "
                    "> 0 to use convolutional layers, or drop the convolution settings."
                )
        else:
            self._validate_conv_settings()
        self._validate_model_options()
        self._validate_input_mode()
        for name in ("pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id"):
            token_id = getattr(self, name)
            if token_id is not None and not 0 <= token_id < self.vocab_size:
                raise ValueError(
                    f"ConvBertConfig.{name}={token_id} is outside the vocabulary (0..{self.vocab_size - 1}): take the "
                    "special token ids and vocab_size from the same tokenizer."
                )

    def _validate_conv_settings(self):
        if self.conv_channels <= 0:
            raise ValueError(f"ConvBertConfig.conv_channels must be a positive integer, got {self.conv_channels}.")
        if len(self.conv_kernel_size) != 2:
            raise ValueError(
                f"ConvBertConfig.conv_kernel_size must be an int or (tokens, hidden), got {self.conv_kernel_size}."
            )
        tokens, hidden = self.conv_kernel_size
        if tokens <= 0 or hidden <= 0:
            raise ValueError(f"ConvBertConfig.conv_kernel_size must be positive, got {self.conv_kernel_size}.")
        if tokens > self.max_position_embeddings or hidden > self.hidden_size:
            raise ValueError(
                f"ConvBertConfig.conv_kernel_size {self.conv_kernel_size} is larger than the "
                f"{self.max_position_embeddings} x {self.hidden_size} plane it slides over (tokens x hidden): "
                "use a smaller kernel or a larger max_position_embeddings / hidden_size."
            )

    def _validate_model_options(self):
        if self.classifier_pooling not in ("cls", "mean"):
            raise ValueError(
                f"ConvBertConfig.classifier_pooling must be 'cls' (the [CLS] state) or 'mean' (mean over "
                f"non-padding positions), got {self.classifier_pooling!r}."
            )
        if self.norm_position not in ("post", "pre"):
            raise ValueError(
                f"ConvBertConfig.norm_position must be 'post' (BERT, the paper) or 'pre' (pre-LayerNorm), got "
                f"{self.norm_position!r}."
            )
        # Sharing that would change nothing is refused rather than silently ignored in a comparison of options.
        if self.share_blocks and self.share_ffn:
            raise ValueError(
                "ConvBertConfig.share_ffn=True adds nothing to share_blocks=True (the one shared block has one "
                "feed-forward network): set only share_blocks."
            )
        for field in ("share_ffn", "share_blocks"):
            if getattr(self, field) and self.num_hidden_layers == 1:
                raise ValueError(
                    f"ConvBertConfig.{field}=True has no effect with num_hidden_layers=1 (there is nothing to share "
                    f"with): set {field}=False, or num_hidden_layers > 1."
                )
        if self.embedding_size is not None and not 0 < self.embedding_size < self.hidden_size:
            raise ValueError(
                f"ConvBertConfig.embedding_size must be between 1 and hidden_size - 1 ({self.hidden_size - 1}) to "
                f"factorise the embedding, got {self.embedding_size}: use a smaller value, or None for token "
                "embeddings of hidden_size."
            )
        if self.embedding_size is not None and self.input_mode == "bytes":
            raise ValueError(
                "ConvBertConfig.embedding_size factorises token embeddings, which input_mode='bytes' does not have: "
                "set embedding_size=None (byte_embedding_size sets the byte embeddings' width)."
            )

    def _validate_input_mode(self):
        if self.input_mode not in INPUT_MODES:
            raise ValueError(f"ConvBertConfig.input_mode must be one of {INPUT_MODES}, got {self.input_mode!r}.")
        if self.input_mode != "bytes":
            return
        self._require_positive("max_token_bytes", "byte_embedding_size", "byte_encoder_layers", "byte_attention_heads")
        if self.byte_embedding_size % self.byte_attention_heads != 0:
            raise ValueError(
                f"ConvBertConfig.byte_embedding_size ({self.byte_embedding_size}) must be divisible by "
                f"byte_attention_heads ({self.byte_attention_heads})."
            )
        missing = [name for name in BYTE_SPECIAL_TOKENS if getattr(self, name) is None]
        if missing:
            raise ValueError(
                f"ConvBertConfig with input_mode='bytes' needs {', '.join(missing)}: special tokens have no bytes and "
                "get learned vectors, found by these ids (take them from the tokenizer)."
            )

    @property
    def byte_special_token_ids(self) -> list[int]:
        """In byte mode, the tokens with learned vectors instead of bytes: [PAD], [CLS], [SEP], [MASK]."""
        return [getattr(self, name) for name in BYTE_SPECIAL_TOKENS]


ConvBertConfig.register_for_auto_class()

__all__ = ["BYTE_MASK", "BYTE_OFFSET", "BYTE_PAD", "BYTE_VOCAB_SIZE", "ConvBertConfig", "PRESETS"]
