"""Import checkpoints written by the paper's own code into ConvBert folders.

The paper's code builds a plain `BertConfig` with one extra encoder layer and swaps encoder layer 0 for
its convolutional block, so its checkpoints cannot be rebuilt from their own config: the CL settings
live only in the weight shapes. Its block stores each CL as `layers.{3i}` (Conv2d) and `layers.{3i+1}`
(BatchNorm2d; `layers.{3i+2}` is the parameter-free GELU) and the final 1x1 projection as `conv.0`
(Conv2d) and `conv.1` (BatchNorm2d), all under `bert.encoder.layer.0.`.
"""

import re
from pathlib import Path

import torch
from safetensors.torch import load_file

from ..errors import MissingFileError, SettingsError
from ..fileio import read_json
from ..models.configuration_conv_bert import ConvBertConfig
from ..models.modeling_conv_bert import ConvBertForMaskedLM, ConvBertForSequenceClassification

_CONV_PREFIX = "bert.encoder.layer.0."
_COPIED_CONFIG_FIELDS = (
    "vocab_size", "hidden_size", "num_attention_heads", "intermediate_size", "hidden_act", "hidden_dropout_prob",
    "attention_probs_dropout_prob", "classifier_dropout", "max_position_embeddings", "type_vocab_size",
    "initializer_range", "layer_norm_eps", "pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id",
    "id2label", "label2id",
)


def _load_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    """The weights of the paper's folder; a truncated or garbage file is one line naming it."""
    for name, load in (("model.safetensors", load_file),
                       ("pytorch_model.bin", lambda path: torch.load(path, map_location="cpu", weights_only=True))):
        if (folder / name).exists():
            try:
                return load(folder / name)
            except Exception as err:  # SafetensorError, UnpicklingError, RuntimeError, EOFError: all a broken file
                text = str(err).strip()
                raise SettingsError(f"{folder / name} is not readable ({text.splitlines()[0] if text else type(err).__name__}); "
                                 "restore the file or save the paper's model again") from None
    raise MissingFileError(
        f"No model.safetensors or pytorch_model.bin in {folder}: point SRC at the folder the paper's code saved."
    )


def _rename(key: str, has_conv: bool) -> str | None:
    """The ConvBert name of a reference key (None for keys ConvBert derives itself)."""
    if key == "bert.embeddings.position_ids" or key == "bert.embeddings.token_type_ids":
        return None  # buffers of older BERT checkpoints
    if key == "cls.predictions.decoder.weight":
        return None  # tied to the word embeddings
    if not has_conv:
        return key
    if key.startswith(_CONV_PREFIX + "layers."):
        index, rest = key[len(_CONV_PREFIX + "layers."):].split(".", 1)
        cl, part = divmod(int(index), 3)
        return f"bert.conv.layers.{cl}.{('conv', 'norm')[part]}.{rest}"
    if key.startswith(_CONV_PREFIX + "conv."):
        index, rest = key[len(_CONV_PREFIX + "conv."):].split(".", 1)
        return f"bert.conv.projection.{('conv', 'norm')[int(index)]}.{rest}"
    match = re.match(r"bert\.encoder\.layer\.(\d+)\.(.*)", key)
    if match:  # transformer blocks move down by one: layer 0 was the CL block
        return f"bert.encoder.layer.{int(match.group(1)) - 1}.{match.group(2)}"
    return key


def _conv_settings(state_dict: dict[str, torch.Tensor]) -> dict:
    """Number of CLs, channels and kernel, read off the Conv2d weight shapes."""
    pattern = re.escape(_CONV_PREFIX) + r"layers\.\d+\.weight"
    conv_weights = [value for key, value in state_dict.items() if re.fullmatch(pattern, key) and value.dim() == 4]
    if not conv_weights:
        return {"num_conv_layers": 0}
    return {
        "num_conv_layers": len(conv_weights),
        "conv_channels": conv_weights[0].shape[0],
        "conv_kernel_size": list(conv_weights[0].shape[2:]),
    }


def convert_reference_checkpoint(src: str | Path, dst: str | Path | None = None, **config_overrides):
    """Rebuild a checkpoint of the paper's code as `ConvBertForMaskedLM` or `ConvBertForSequenceClassification`.

    The head follows the checkpoint's `architectures`. Special token ids are copied as they are (the
    paper's code defaults to pad 101 and cls 0); pass `pad_token_id=...` and friends to correct them.
    With `dst`, the model is saved there (weights, config with `auto_map`, model code).
    """
    src = Path(src)
    config_file = src / "config.json"
    if not config_file.exists():
        raise MissingFileError(f"No config.json in {src}: point SRC at the folder the paper's code saved.")
    reference = read_json(config_file, fix="point SRC at the folder save_pretrained wrote, or save the paper's model again")
    model_type = reference.get("model_type") if isinstance(reference, dict) else None
    if model_type != "bert":
        raise SettingsError(f"{config_file} has model_type {model_type!r}; the paper's checkpoints are 'bert'.")
    state_dict = _load_state_dict(src)
    conv = _conv_settings(state_dict)
    has_conv = conv["num_conv_layers"] > 0
    config = ConvBertConfig(
        **{field: reference[field] for field in _COPIED_CONFIG_FIELDS if field in reference},
        num_hidden_layers=reference["num_hidden_layers"] - int(has_conv),
        **conv,
        **config_overrides,
    )
    is_classifier = any("SequenceClassification" in name for name in reference.get("architectures") or [])
    model = (ConvBertForSequenceClassification if is_classifier else ConvBertForMaskedLM)(config)
    renamed = {new: value for key, value in state_dict.items() if (new := _rename(key, has_conv)) is not None}
    try:
        missing, unexpected = model.load_state_dict(renamed, strict=False)
    except RuntimeError as err:  # size mismatch: another model's weights under this config
        raise SettingsError(f"{src} does not match its config.json: {str(err).strip().splitlines()[-1].strip()}") from None
    missing = [key for key in missing if not key.startswith("cls.predictions.decoder.")]  # tied, filled below
    if missing or unexpected:
        raise SettingsError(
            f"{src} does not match the paper's layout: missing {missing[:5]}, unexpected {unexpected[:5]}."
        )
    model.tie_weights()
    model.eval()
    if dst is not None:
        model.save_pretrained(dst)
    return model
