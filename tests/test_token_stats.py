"""Token statistics: W_s, T_W, T_C, T_M and the frequency-weighted coverage, against hand counts."""

import pytest
from data_helpers import make_task, make_tokenizer

from tlm_hf.data.token_stats import STAT_DESCRIPTIONS, token_stats
from tlm_hf.data.tokenizer import load_tokenizer

SUBSET = ["the cat sat .", "the cat ran"]  # the 2, cat 2, sat 1, . 1, ran 1
TASK = make_task(train=["the dog ran", "stock fell"], test=["the cat won"])  # 8 occurrences of 7 tokens


@pytest.fixture
def tokenizer(tmp_path):
    return make_tokenizer(tmp_path / "tok")


def test_statistics_match_a_hand_count(tokenizer):
    stats = token_stats(SUBSET, TASK, tokenizer, min_count=2)
    assert stats == {
        "W_s": 2,
        "T_W": 5,  # the cat sat . ran
        "T_C": 7,  # the dog ran stock fell cat won
        "T_M": 4,  # dog stock fell won
        "T_M_k": 5,  # ... and ran, seen once
        "coverage": 4 / 8,  # the x2, ran, cat
        "coverage_k": 3 / 8,  # the x2, cat
        "min_count": 2,
        "N_W": 7,
        "N_C": 8,
    }
    assert set(stats) == set(STAT_DESCRIPTIONS)


def test_t_m_counts_task_tokens_absent_from_subset(tokenizer):
    assert token_stats(["the dog ran stock fell cat won"], TASK, tokenizer)["T_M"] == 0
    assert token_stats(["bird sang"], TASK, tokenizer)["T_M"] == 7


def test_special_tokens_are_excluded(tokenizer):
    stats = token_stats(["the cat [UNK] [CLS] zebra"], TASK, tokenizer, min_count=1)
    assert (stats["T_W"], stats["N_W"]) == (2, 2)


def test_statistics_do_not_depend_on_worker_count(tokenizer):
    subset = [f"the cat sat {'on the mat' if i % 3 else 'in the park'} ." for i in range(200)]
    assert token_stats(subset, TASK, tokenizer, num_proc=1) == token_stats(subset, TASK, tokenizer, num_proc=2)


def test_task_without_tokens_is_an_error(tokenizer):
    with pytest.raises(ValueError, match="the task has no .* tokens"):
        token_stats(SUBSET, make_task(train=[""], test=["[UNK]"]), tokenizer)


def test_missing_tokenizer_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="cannot load tokenizer"):
        load_tokenizer(str(tmp_path / "no-tokenizer"))


def test_bundled_bert_tokenizer_counts_the_tasks_tokens():
    tokenizer = load_tokenizer("sample:bert-base-uncased")
    stats = token_stats(["The cat sat on the mat."], make_task(["the cat sat"], ["on a mat"]), tokenizer)
    assert (stats["T_W"], stats["T_C"], stats["T_M"]) == (6, 6, 1)  # "a" is missing
