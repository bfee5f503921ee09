"""Subset builders (random, custom, avoid), the vectorised filter, and atomic writing."""

import json

import numpy as np
import pytest
from data_helpers import (
    ANIMAL_SENTENCES,
    MONEY_SENTENCES,
    SPORT_SENTENCES,
    make_task,
    make_tokenizer,
)
from datasets import Dataset, load_from_disk

from tlm_hf.data.subsets import avoided_tokens, build_subset, filter_paragraphs, save_subset
from tlm_hf.data.token_stats import token_stats

TASK = make_task(train=ANIMAL_SENTENCES, test=MONEY_SENTENCES[:1])
CORPUS = Dataset.from_dict({"text": [
    *(ANIMAL_SENTENCES * 5),  # only task tokens
    *(SPORT_SENTENCES * 5),  # no task token but "the", "a", "."
    "the cat sat in the market .", "the bank rose .",  # mixed
]})


@pytest.fixture
def tokenizer(tmp_path):
    return make_tokenizer(tmp_path / "tok")


def task_token_ids(tokenizer):
    texts = [*TASK["train"]["text"], *TASK["test"]["text"]]
    return {i for text in texts for i in tokenizer(text, add_special_tokens=False)["input_ids"]}


def test_custom_subset_keeps_only_paragraphs_made_of_task_tokens(tokenizer):
    subset = build_subset("custom", CORPUS, TASK, tokenizer)
    allowed = task_token_ids(tokenizer)
    assert len(subset) == 21  # 20 animal sentences and "the cat sat in the market ."
    for text in subset["text"]:
        assert set(tokenizer(text, add_special_tokens=False)["input_ids"]) <= allowed


def test_custom_subset_is_cut_to_w_s_by_seed(tokenizer):
    first = build_subset("custom", CORPUS, TASK, tokenizer, w_s=5, seed=3)
    assert len(first) == 5
    assert list(first["text"]) == list(build_subset("custom", CORPUS, TASK, tokenizer, w_s=5, seed=3)["text"])


def test_avoid_subset_raises_t_m_to_at_least_the_avoided_share(tokenizer):
    random_stats = token_stats(build_subset("random", CORPUS, w_s=10, seed=0), TASK, tokenizer)
    subset = build_subset("avoid", CORPUS, TASK, tokenizer, w_s=10, avoid_fraction=0.6)
    stats = token_stats(subset, TASK, tokenizer)
    assert stats["W_s"] == 10
    assert stats["T_M"] >= round(0.6 * stats["T_C"]) > random_stats["T_M"]


def test_avoided_tokens_are_the_task_tokens_least_common_in_the_corpus():
    task_counts = np.array([0, 5, 5, 5, 5, 0])
    corpus_counts = np.array([9, 1, 7, 0, 3, 9])
    assert list(avoided_tokens(task_counts, corpus_counts, 0.5)) == [3, 1]


def test_vectorised_filter_matches_a_per_paragraph_check_for_any_worker_count():
    rng = np.random.default_rng(0)
    rows = [rng.integers(0, 50, size=rng.integers(0, 12)).tolist() for _ in range(3000)]
    allowed = rng.random(50) < 0.8
    tokenised = Dataset.from_dict({"input_ids": rows, "row": list(range(len(rows)))})
    expected = [i for i, ids in enumerate(rows) if all(allowed[j] for j in ids)]
    for num_proc in (1, 2):
        assert list(filter_paragraphs(tokenised, allowed, num_proc=num_proc, batch_size=500)["row"]) == expected


def test_same_seed_gives_same_subset_for_any_worker_count(tokenizer):
    corpus = Dataset.from_dict({"text": list(CORPUS["text"]) * 20})
    one = build_subset("avoid", corpus, TASK, tokenizer, w_s=30, seed=5, num_proc=1)
    two = build_subset("avoid", corpus, TASK, tokenizer, w_s=30, seed=5, num_proc=2)
    assert list(one["text"]) == list(two["text"])


def test_filter_leaving_no_paragraph_is_an_error(tokenizer):
    corpus = Dataset.from_dict({"text": SPORT_SENTENCES})
    with pytest.raises(ValueError, match="no paragraph of the corpus would consist solely of task tokens"):
        build_subset("custom", corpus, make_task(["cat dog"], ["bird"]), tokenizer)


def test_w_s_larger_than_the_filtered_corpus_is_an_error(tokenizer):
    with pytest.raises(ValueError, match="only 21 paragraphs consist solely of task tokens, fewer than W_s = 22"):
        build_subset("custom", CORPUS, TASK, tokenizer, w_s=22)


def test_unknown_kind_and_random_without_w_s_are_errors():
    with pytest.raises(ValueError, match="unknown subset kind 'smart'"):
        build_subset("smart", CORPUS)
    with pytest.raises(ValueError, match="a random subset needs W_s"):
        build_subset("random", CORPUS)


@pytest.mark.parametrize("fmt", ["datasets", "jsonl"])
def test_save_subset_replaces_the_folder_with_subset_and_stats(tmp_path, fmt):
    out = tmp_path / "subset"
    out.mkdir()
    (out / "stale.txt").write_text("old run")
    subset = Dataset.from_dict({"text": ["one paragraph.", "two paragraphs."]})
    save_subset(subset, out, {"W_s": 2}, fmt=fmt)
    assert json.loads((out / "stats.json").read_text()) == {"W_s": 2}
    assert not (out / "stale.txt").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["subset"]  # no temporary folders left
    if fmt == "datasets":
        assert list(load_from_disk(str(out))["text"]) == list(subset["text"])
    else:
        lines = (out / "paragraphs.jsonl").read_text().splitlines()
        assert [json.loads(line)["text"] for line in lines] == list(subset["text"])
