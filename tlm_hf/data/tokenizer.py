"""Tokenizers: loading one, checking that it fits a model, and training a small WordPiece vocabulary on a subset.

In BERT-1 the 30,522 x hidden embedding is the biggest weight; a vocabulary fitted to W_s
paragraphs shrinks it. The trained tokenizer keeps BERT's pipeline (lower-casing, punctuation
splitting, [CLS] ... [SEP]) and special tokens, so it drops into the same training code.
"""

import json
from pathlib import Path

from tokenizers import Tokenizer
from transformers import AutoTokenizer, BertTokenizer, PreTrainedTokenizerFast

from ..errors import MissingFileError, SettingsError
from .corpus import as_texts
from .samples import resolve_sample


# The special tokens every model here is built with (ConvBertConfig takes their ids from the tokenizer); [MASK] is
# what MLM pre-training and BLiMP's pseudo-log-likelihoods put in place of a token.
SPECIAL_TOKENS = {"pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]", "mask_token": "[MASK]"}


def load_tokenizer(tokenizer):
    """A tokenizer object as is, or `AutoTokenizer.from_pretrained` of a folder, a Hub id or `sample:<name>`, checked
    so that a damaged one (an empty vocab.txt) is one line naming it, not an error deep in training."""
    if not isinstance(tokenizer, str):
        return tokenizer
    source = Path(resolve_sample(tokenizer)).expanduser()
    vocab = source / "vocab.txt"
    if vocab.is_file() and not vocab.read_text(errors="replace").strip():
        raise SettingsError(f"{vocab} is empty; restore the tokenizer's vocabulary (one token a line, [PAD], [UNK], "
                            "[CLS], [SEP], [MASK] among them), or give another --tokenizer")
    try:
        loaded = AutoTokenizer.from_pretrained(resolve_sample(tokenizer))
    except (OSError, ValueError) as err:
        raise MissingFileError(
            f"cannot load tokenizer {tokenizer!r}; pass a folder with tokenizer files, a reachable Hub id, or the "
            "bundled sample:bert-base-uncased (works offline)"
        ) from err
    except Exception as err:
        if type(err) is not Exception:  # the tokenizers library raises plain Exceptions; anything else is a bug
            raise
        raise SettingsError(f"tokenizer {tokenizer!r} does not load ({_first_line(err)}); restore its files "
                            "(tokenizer.json, vocab.txt), or give another --tokenizer") from err
    try:
        loaded("the")
    except Exception as err:  # an empty vocabulary: the tokenizers library's "WordPiece error: Missing [UNK] token"
        if type(err) is not Exception:
            raise
        raise SettingsError(f"tokenizer {tokenizer!r} cannot encode text ({_first_line(err)}); its vocabulary is "
                            "empty or damaged: restore its files (tokenizer.json, vocab.txt), or give another "
                            "--tokenizer") from err
    return loaded


def check_special_tokens(tokenizer) -> None:
    """Refuse, naming the tokenizer, one without the special tokens a model here is built with (before a run claims
    its folder: the MLM collator would fail on a missing [MASK] after it)."""
    missing = [f"{token} ({attribute})" for attribute, token in SPECIAL_TOKENS.items()
               if getattr(tokenizer, f"{attribute}_id", None) is None]
    if missing:
        raise SettingsError(f"tokenizer {tokenizer.name_or_path!r} has no {', '.join(missing)}; the models here are "
                            "BERT-style masked LMs: give a tokenizer with [PAD], [CLS], [SEP] and [MASK] (e.g. "
                            "sample:bert-base-uncased)")


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def match_tokenizer(config, tokenizer) -> None:
    """Refuse a tokenizer whose ids do not index the model's embedding the way it was trained; then cap its
    model_max_length at the model's positions, so that a saved run's tokenizer carries the real maximum."""
    if len(tokenizer) != config.vocab_size:
        raise SettingsError(
            f"the tokenizer has {len(tokenizer)} tokens but the model's vocabulary has {config.vocab_size}; "
            "use the tokenizer the model was (pre-)trained with, or drop vocab_size so it is taken from the tokenizer"
        )
    for name in ("pad_token_id", "cls_token_id", "sep_token_id", "mask_token_id"):
        model_id, tokenizer_id = getattr(config, name), getattr(tokenizer, name)
        if model_id is not None and tokenizer_id is not None and model_id != tokenizer_id:
            raise SettingsError(
                f"the model's {name} is {model_id} but the tokenizer's is {tokenizer_id}; "
                "use the tokenizer the model was (pre-)trained with"
            )
    tokenizer.model_max_length = config.max_position_embeddings


def train_wordpiece(
    texts,
    vocab_size: int,
    *,
    lowercase: bool = True,
    min_frequency: int = 2,
    batch_size: int = 1000,
    output_dir: str | None = None,
) -> PreTrainedTokenizerFast:
    """A BERT WordPiece tokenizer of at most `vocab_size` tokens trained on `texts`.

    texts: a Dataset with a `text` column or any sequence of strings. The five BERT special
    tokens come first ([PAD]=0, [UNK]=1, [CLS]=2, [SEP]=3, [MASK]=4); the same texts give the same
    tokenizer on every run. With output_dir the
    tokenizer is also written there with `save_pretrained` (reload with AutoTokenizer).
    """
    data = as_texts(texts)
    if len(data) == 0:
        raise SettingsError("no texts to train a tokenizer on; pass a non-empty subset")
    base = BertTokenizer(do_lower_case=lowercase)
    if vocab_size <= len(base):
        raise SettingsError(f"vocab_size {vocab_size} leaves no room beside the {len(base)} special tokens; raise it")
    batches = (data[i : i + batch_size]["text"] for i in range(0, len(data), batch_size))
    # The trainer numbers the ##-continuation tokens in hash-map order, and those ids break ties between merges, so
    # the same texts gave other ids, and at times another vocabulary, on every run (huggingface/tokenizers#1794).
    # Handed to it first, as special tokens in sorted order, they get fixed ids; they are then made ordinary again.
    continuations = continuation_tokens(base, data)
    trained = base.train_new_from_iterator(batches, vocab_size, length=len(data), min_frequency=min_frequency,
                                           new_special_tokens=continuations)
    state = json.loads(trained.backend_tokenizer.to_str())
    state["added_tokens"] = [token for token in state["added_tokens"] if token["content"] not in continuations]
    tokenizer = BertTokenizer(tokenizer_object=Tokenizer.from_str(json.dumps(state)), do_lower_case=lowercase)
    if len(tokenizer) > vocab_size:  # the trainer keeps every character (and ##character) whatever vocab_size says
        raise SettingsError(
            f"wordpiece_vocab_size {vocab_size} is below what these texts need to be spelled: {len(tokenizer)} tokens "
            f"(special tokens, characters and ##-continuations); give at least {len(tokenizer)}, or 0 to train none"
        )
    if output_dir is not None:
        tokenizer.save_pretrained(output_dir)
    return tokenizer


def continuation_tokens(tokenizer, data) -> list[str]:
    """Sorted ##c for every character c that follows another inside a word of `data` (a `text` column), after
    `tokenizer`'s normalisation and pre-tokenisation: the continuation alphabet the WordPiece trainer builds."""
    backend = tokenizer.backend_tokenizer
    characters = set()
    for text in data["text"]:
        for word, _ in backend.pre_tokenizer.pre_tokenize_str(backend.normalizer.normalize_str(text)):
            characters.update(word[1:])
    return sorted(f"##{character}" for character in characters)  # a list: the trainer numbers them in this order
