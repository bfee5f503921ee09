"""Pre-training corpora as paragraphs, random subsets of W_s paragraphs, and texts as a `text` Dataset.

The paper's unit of pre-training data is the Wikipedia paragraph; W_s is the number of
paragraphs a model is pre-trained on (2,000 to 200,000 in the paper, drawn with seed 42).
"""

import logging
import re

import numpy as np
from datasets import Dataset, DatasetDict, IterableDataset, concatenate_datasets

from ..errors import SettingsError
from .files import is_local, load_files, load_hub

DEFAULT_CORPUS = "wikimedia/wikipedia"  # the corpus of the paper's code
DEFAULT_CORPUS_CONFIG = "20231101.en"
DEFAULT_SUBSET_SEED = 42  # the paper draws its random subsets with seed 42

logger = logging.getLogger(__name__)

_WIKITEXT_HEADING = re.compile(r"^(=+)\s.*\s\1$")  # "= = History = =" in WikiText
_WIKITEXT_JOINER = re.compile(r" @(.)@ ")  # "1 @,@ 000" -> "1,000", "role @-@ playing" -> "role-playing"
_SENTENCE_END = re.compile(r"[.!?:;\"')\]]$")
_HEADING_MAX_WORDS = 10


def clean_wikitext(text: str) -> str:
    """Undo WikiText's tokenised joiners and map its `<unk>` to BERT's `[UNK]`.

    `[UNK]` is a special token of BERT-style tokenizers, so token statistics skip it instead
    of counting the pieces of the literal string "<unk>".
    """
    return _WIKITEXT_JOINER.sub(r"\1", text).replace("<unk>", "[UNK]")


def _is_heading(line: str, inside_article: bool) -> bool:
    """WikiText `= Title =` lines; in a multi-line article also short lines without an ending.

    A row that is already one line is a paragraph by definition (the shared WikiText file keeps
    list items such as "Total 10 @,@ 247"), so the short-line rule applies only inside articles.
    """
    if _WIKITEXT_HEADING.match(line):
        return True
    return inside_article and len(line.split()) <= _HEADING_MAX_WORDS and not _SENTENCE_END.search(line)


def _paragraphs(batch, text_field, normalize, min_chars, split_articles):
    out = []
    for text in batch[text_field]:
        lines = [line.strip() for line in (text or "").split("\n")] if split_articles else [(text or "").strip()]
        lines = [line for line in lines if line]
        inside_article = len(lines) > 1
        for line in lines:
            if _is_heading(line, inside_article):
                continue
            if normalize:
                line = clean_wikitext(line)
            if len(line) >= min_chars:
                out.append(line)
    return {"text": out}


def load_paragraphs(
    source: str = DEFAULT_CORPUS,
    *,
    config: str | None = None,
    split: str = "train",
    text_field: str = "text",
    streaming: bool = False,
    normalize_wikitext: bool = False,
    min_chars: int = 1,
    split_articles: bool = True,
    where: dict[str, str] | None = None,
    num_proc: int | None = None,
) -> Dataset | IterableDataset:
    """One paragraph per row, in column `text`, from a Hub dataset or local files.

    source: a Hub id (config defaults to 20231101.en for wikimedia/wikipedia; `split` picks the
        Hub split) or a local file/glob (txt, jsonl, json, parquet, csv, optionally .gz).
    where: keep only rows whose columns equal these values, e.g. {"split": "train"} for the
        shared WikiText file, whose rows carry their WikiText split.
    normalize_wikitext: undo WikiText's ` @-@ ` joiners and `<unk>`; use it for WikiText files.
    split_articles: split each row on newlines; empty lines and headings are dropped.
    min_chars: drop paragraphs shorter than this many characters.
    """
    if is_local(source):
        data = load_files(source, streaming=streaming)["train"]
    else:
        if source == DEFAULT_CORPUS and config is None:
            config = DEFAULT_CORPUS_CONFIG
        data = load_hub(source, config, split=split, streaming=streaming)
    columns = data.column_names
    needed = [text_field, *(where or {})]
    missing = [c for c in needed if columns is not None and c not in columns]
    if missing:
        raise SettingsError(
            f"{source} has no column {missing[0]!r} (columns: {', '.join(columns)}); "
            "pass text_field= / where= with one of them (--corpus_text_field / --corpus_where)"
        )
    if where:
        data = data.filter(
            lambda batch: [all(batch[c][i] == v for c, v in where.items()) for i in range(len(batch[text_field]))],
            batched=True,
            **({} if streaming else {"num_proc": num_proc, "desc": "Selecting rows"}),
        )
    kwargs = {} if streaming else {"num_proc": num_proc, "desc": "Splitting into paragraphs"}
    paragraphs = data.map(
        _paragraphs,
        batched=True,
        remove_columns=columns,
        fn_kwargs={
            "text_field": text_field,
            "normalize": normalize_wikitext,
            "min_chars": max(min_chars, 1),
            "split_articles": split_articles,
        },
        **kwargs,
    )
    if not streaming and len(paragraphs) == 0:
        raise SettingsError(
            f"{source} gives no paragraphs{f' with {where}' if where else ''} of at least {max(min_chars, 1)} "
            "characters; check the file, --corpus_where and --min_chars"
        )
    return paragraphs


def random_subset(paragraphs: Dataset, w_s: int, seed: int = DEFAULT_SUBSET_SEED) -> Dataset:
    """Exactly `w_s` paragraphs drawn by `seed` (the paper uses 42).

    A seeded shuffle of the whole corpus followed by its first W_s rows: it does not depend on
    worker counts, and smaller W_s with the same seed are prefixes of larger ones.
    """
    if isinstance(paragraphs, IterableDataset):
        raise SettingsError("a random W_s subset needs the whole corpus; load it without streaming=True")
    if w_s < 1:
        raise SettingsError(f"W_s must be at least 1, got {w_s}; pass a positive number of paragraphs")
    if w_s > len(paragraphs):
        raise SettingsError(
            f"W_s = {w_s} is larger than the corpus ({len(paragraphs)} paragraphs); "
            f"choose W_s <= {len(paragraphs)} or a bigger corpus"
        )
    return paragraphs.shuffle(seed=seed).select(range(w_s))

def shuffle_words(paragraphs: Dataset, seed: int = DEFAULT_SUBSET_SEED) -> Dataset:
    """The same paragraphs with the words of each one in a random order (drawn from `seed` and the row's index).

    The control of what pre-training teaches: every word count, paragraph and vocabulary stays, word order goes.
    Words are the whitespace-separated pieces, so punctuation moves with the word it is attached to.
    """

    def shuffle(batch, indices):
        texts = []
        for text, index in zip(batch["text"], indices):
            words = text.split()
            np.random.default_rng([seed, index]).shuffle(words)
            texts.append(" ".join(words))
        return {"text": texts}

    return paragraphs.map(shuffle, batched=True, with_indices=True, desc="Shuffling words")


def split_heldout(paragraphs: Dataset, size: int, seed: int = DEFAULT_SUBSET_SEED) -> tuple[Dataset, Dataset]:
    """(the rest, held-out paragraphs drawn by `seed`): `size` of them, at most a tenth of the corpus.

    W_s subsets are then drawn from the rest only, so the held-out paragraphs are never pre-trained on, and
    they are the same for every W_s.
    """
    size = min(size, len(paragraphs) // 10)
    if size < 1:
        raise SettingsError(
            f"a corpus of {len(paragraphs)} paragraphs is too small to hold paragraphs out (at most a tenth); "
            "set heldout_size 0 to pre-train without held-out evaluation, or heldout_where to take them from another split"
        )
    order = np.random.default_rng(seed).permutation(len(paragraphs))
    logger.warning(f"held out {size:,} of the corpus's {len(paragraphs):,} paragraphs for the MLM evaluation; "
                   f"{len(paragraphs) - size:,} remain to pre-train on (heldout_size 0 keeps them all)")
    return paragraphs.select(np.sort(order[size:])), paragraphs.select(np.sort(order[:size]))


def as_texts(texts) -> Dataset:
    """A Dataset with a `text` column from a Dataset, a DatasetDict (splits joined) or strings."""
    if isinstance(texts, DatasetDict):
        return concatenate_datasets([split.select_columns(["text"]) for split in texts.values()])
    if isinstance(texts, Dataset):
        if "text" not in texts.column_names:
            raise SettingsError(f"no 'text' column (columns: {', '.join(texts.column_names)}); rename the text column")
        return texts
    return Dataset.from_dict({"text": list(texts)})
