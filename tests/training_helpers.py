"""A tiny corpus, task, tokenizer and model for the training tests (a run takes seconds on a CPU), and running a
training script in the test's process."""

import random
import runpy
import sys
from pathlib import Path

from data_helpers import ANIMAL_SENTENCES, MONEY_SENTENCES, SPORT_SENTENCES, make_tokenizer, task_rows, write_jsonl

REPO = Path(__file__).resolve().parents[1]
TINY_MODEL = "hidden_size=32,num_attention_heads=2,intermediate_size=64"


def tiny_files(folder: Path) -> dict:
    """Write a 64-paragraph corpus, a 2-label task and a whole-word tokenizer; return settings using them."""
    make_tokenizer(folder / "tokenizer").save_pretrained(folder / "tokenizer")
    rng = random.Random(0)
    sentences = ANIMAL_SENTENCES + MONEY_SENTENCES + SPORT_SENTENCES
    write_jsonl(folder / "corpus.jsonl", [{"text": " ".join(rng.choices(sentences, k=3))} for _ in range(64)])
    write_jsonl(folder / "task.jsonl", task_rows(16))
    return {
        "corpus": str(folder / "corpus.jsonl"),
        "task": "tiny", "task_data": str(folder / "task.jsonl"), "text_column": "text", "label_column": "label",
        "train_per_label": 8, "test_per_label": 8,
        "preset": "bert-1-h24", "config_overrides": TINY_MODEL, "tokenizer": str(folder / "tokenizer"),
    }


def as_flags(settings: dict) -> list[str]:
    """{"w_s": 32, "scratch": True} -> ["--w_s", "32", "--scratch", "true"]."""
    flags = []
    for key, value in settings.items():
        values = value if isinstance(value, list) else [value]
        flags += [f"--{key}", *(str(v).lower() if isinstance(v, bool) else str(v) for v in values)]
    return flags


def run_script(name: str, settings: dict, *extra) -> None:
    """train/<name> in this process, as if from the command line; SystemExit carries its error line."""
    old, sys.argv = sys.argv, [name, *as_flags(settings), *extra]
    try:
        runpy.run_path(str(REPO / "train" / name), run_name="__main__")
    finally:
        sys.argv = old
