"""Tiny corpora, tasks and a whole-word tokenizer for the data tests, so counts are easy by hand."""

import json
from pathlib import Path

from datasets import ClassLabel, Dataset, DatasetDict, Features, Value
from transformers import BertTokenizer

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
WORDS = [
    "the", "a", "cat", "dog", "sat", "ran", "on", "in", "mat", "park", "bird", "sang",
    "stock", "market", "fell", "rose", "bank", "team", "won", "lost", "game", "match", ".", ",",
]


def make_tokenizer(folder: Path) -> BertTokenizer:
    """A BERT tokenizer whose vocabulary is SPECIAL + WORDS: one token per known word."""
    folder.mkdir(parents=True, exist_ok=True)
    vocab = folder / "vocab.txt"
    vocab.write_text("\n".join(SPECIAL + WORDS) + "\n")
    return BertTokenizer(vocab=str(vocab))


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def make_task(train: list[str], test: list[str], train_labels=None, test_labels=None) -> DatasetDict:
    """A two-label task straight from texts (labels default to 0)."""
    features = Features({"text": Value("string"), "label": ClassLabel(names=["animals", "money"])})

    def split(texts, labels):
        return Dataset.from_dict({"text": texts, "label": labels or [0] * len(texts)}, features=features)

    return DatasetDict(train=split(train, train_labels), test=split(test, test_labels))


ANIMAL_SENTENCES = ["the cat sat on the mat .", "a dog ran in the park .", "the bird sang .", "a cat ran ."]
MONEY_SENTENCES = ["the stock market fell .", "the bank rose .", "a market fell , the bank rose ."]
SPORT_SENTENCES = ["the team won the game .", "a team lost the match ."]


def task_rows(per_label: int) -> list[dict]:
    """`per_label` rows for each of labels 0 (animals) and 1 (money), cycling the sentences."""
    rows = [{"text": ANIMAL_SENTENCES[i % len(ANIMAL_SENTENCES)], "label": 0} for i in range(per_label)]
    rows += [{"text": MONEY_SENTENCES[i % len(MONEY_SENTENCES)], "label": 1} for i in range(per_label)]
    return rows
