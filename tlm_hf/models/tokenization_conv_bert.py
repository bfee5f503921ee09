"""The tokenizer of a byte-level ConvBert (`input_mode="bytes"`): a BERT tokenizer that also returns each token's bytes.

Byte-level input (STLM §5.2) uses the ordinary tokenizer only to cut the text into tokens: next to `input_ids` (which
still name the special tokens, [CLS] [SEP] [PAD] [MASK]) it returns `input_bytes`, `(sequence, max_token_bytes)` per
text: the UTF-8 bytes of each token's span of the text (from its character offsets), as ids `byte + BYTE_OFFSET`,
capped at `max_token_bytes` and filled with `BYTE_PAD`. A token that starts a word (not glued to the token before it,
like WordPiece's "##" pieces and punctuation) begins with a space byte, as GPT-2's tokens do, so that "play ##ing"
and "play ing" differ. Special tokens and padding have no bytes (a row of `BYTE_PAD`). Padding (`pad`, and so
`DataCollatorWithPadding`) pads `input_bytes` along with `input_ids`.

This file is copied next to a saved tokenizer, so that `AutoTokenizer.from_pretrained(folder, trust_remote_code=True)`
works where `tlm_hf` is not installed: it imports only transformers and its sibling configuration file.
"""

from transformers import BatchEncoding, BertTokenizer

from .configuration_conv_bert import BYTE_OFFSET, BYTE_PAD


def token_bytes(texts, offsets, sequence_ids, max_token_bytes: int) -> list[list[int]]:
    """Byte ids `(tokens, max_token_bytes)` of one encoded row; `texts` holds the text (and its pair, if any)."""
    rows, previous_end = [], None
    for (start, end), sequence in zip(offsets, sequence_ids):
        if sequence is None or start == end:  # special tokens and padding
            rows.append([BYTE_PAD] * max_token_bytes)
            previous_end = None
            continue
        piece = texts[sequence][start:end].encode("utf-8")
        if start != previous_end:  # starts a word
            piece = b" " + piece
        previous_end = end
        ids = [byte + BYTE_OFFSET for byte in piece[:max_token_bytes]]
        rows.append(ids + [BYTE_PAD] * (max_token_bytes - len(ids)))
    return rows


class ConvBertByteTokenizer(BertTokenizer):
    """A (fast) BERT tokenizer whose outputs carry `input_bytes` as well; see the module docstring.

    Build one from any BERT tokenizer folder: `ConvBertByteTokenizer.from_pretrained(path, max_token_bytes=16)`;
    `max_token_bytes` must equal the model's. Pre-tokenised input (`is_split_into_words=True`) is not supported.
    """

    model_input_names = ["input_ids", "token_type_ids", "attention_mask", "input_bytes"]

    def __init__(self, *args, max_token_bytes: int = 16, **kwargs):
        super().__init__(*args, **kwargs)
        self.max_token_bytes = max_token_bytes
        self.init_kwargs["max_token_bytes"] = max_token_bytes  # saved in tokenizer_config.json

    def _encode_plus(self, text, text_pair=None, **kwargs) -> BatchEncoding:
        if kwargs.get("is_split_into_words"):
            raise ValueError("ConvBertByteTokenizer needs the texts themselves (is_split_into_words=False).")
        encoded = super()._encode_plus(text, text_pair, **kwargs)
        batched = isinstance(text, (list, tuple))
        texts = list(zip(text, text_pair or [None] * len(text))) if batched else [(text, text_pair)]
        # With overflowing tokens a text gives several rows; `overflow_to_sample_mapping` names its text.
        samples = encoded.get("overflow_to_sample_mapping", range(len(encoded.encodings)))
        rows = [
            token_bytes(texts[int(sample)], row.offsets, row.sequence_ids, self.max_token_bytes)
            for sample, row in zip(samples, encoded.encodings)
        ]
        return_tensors = kwargs.get("return_tensors")
        if not batched and return_tensors is None and not kwargs.get("return_overflowing_tokens"):
            encoded["input_bytes"] = rows[0]  # a single text: no batch axis, as for input_ids
        else:
            encoded["input_bytes"] = BatchEncoding({"input_bytes": rows}, tensor_type=return_tensors)["input_bytes"]
        return encoded

    def _pad(self, encoded_inputs, max_length=None, padding_strategy=None, pad_to_multiple_of=None,
             padding_side=None, return_attention_mask=None) -> dict:
        length = len(encoded_inputs[self.model_input_names[0]])
        padded = super()._pad(encoded_inputs, max_length=max_length, padding_strategy=padding_strategy,
                              pad_to_multiple_of=pad_to_multiple_of, padding_side=padding_side,
                              return_attention_mask=return_attention_mask)
        difference = len(padded[self.model_input_names[0]]) - length
        if "input_bytes" in padded and difference > 0:
            rows = [[BYTE_PAD] * self.max_token_bytes for _ in range(difference)]
            side = padding_side if padding_side is not None else self.padding_side
            token_rows = list(padded["input_bytes"])
            padded["input_bytes"] = token_rows + rows if side == "right" else rows + token_rows
        return padded


__all__ = ["ConvBertByteTokenizer", "token_bytes"]

# Saving copies this file (and the configuration file it imports) next to the tokenizer and writes `auto_map`.
ConvBertByteTokenizer.register_for_auto_class("AutoTokenizer")
