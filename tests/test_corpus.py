"""Pre-training corpora: files to paragraphs, WikiText clean-up, random W_s subsets."""

import gzip
import json

import pandas as pd
import pytest
from data_helpers import write_jsonl

from tlm_hf.data.corpus import clean_wikitext, load_paragraphs, random_subset

ARTICLE = "Cats\n\nThe cat sat on the mat. It was warm.\n\nHistory\n= = Early days = =\nCats came from Egypt.\n"


@pytest.mark.parametrize("suffix", ["jsonl", "jsonl.gz", "json", "csv", "parquet", "txt"])
def test_load_paragraphs_reads_every_file_format(tmp_path, suffix):
    texts = ["First paragraph here.", "Second paragraph here.", "Third one."]
    path = tmp_path / f"corpus.{suffix}"
    if suffix == "txt":
        path.write_text("\n".join(texts) + "\n")
    elif suffix == "csv":
        pd.DataFrame({"text": texts}).to_csv(path, index=False)
    elif suffix == "parquet":
        pd.DataFrame({"text": texts}).to_parquet(path)
    else:
        lines = "".join(json.dumps({"text": t}) + "\n" for t in texts)
        path.write_bytes(gzip.compress(lines.encode()) if suffix.endswith(".gz") else lines.encode())
    assert list(load_paragraphs(str(path))["text"]) == texts


def test_articles_split_into_paragraphs_without_empty_lines_or_headings(tmp_path):
    path = write_jsonl(tmp_path / "articles.jsonl", [{"text": ARTICLE}])
    assert list(load_paragraphs(str(path))["text"]) == ["The cat sat on the mat. It was warm.", "Cats came from Egypt."]


def test_one_line_rows_are_kept_even_when_short(tmp_path):
    path = write_jsonl(tmp_path / "rows.jsonl", [{"text": "Total 10 @,@ 247"}, {"text": "= = Heading = ="}])
    assert list(load_paragraphs(str(path))["text"]) == ["Total 10 @,@ 247"]


def test_normalize_wikitext_undoes_joiners_and_unknown_words():
    assert clean_wikitext("a role @-@ playing game of 1 @,@ 000 @.@ 5 <unk>") == "a role-playing game of 1,000.5 [UNK]"


def test_where_keeps_only_rows_with_the_given_column_value(tmp_path):
    rows = [{"text": "Kept paragraph.", "split": "train"}, {"text": "Dropped one.", "split": "test"}]
    path = write_jsonl(tmp_path / "wiki.jsonl", rows)
    assert list(load_paragraphs(str(path), where={"split": "train"})["text"]) == ["Kept paragraph."]


def test_min_chars_drops_short_paragraphs(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": "Short."}, {"text": "A much longer paragraph."}])
    assert list(load_paragraphs(str(path), min_chars=10)["text"]) == ["A much longer paragraph."]


def test_streaming_yields_the_same_paragraphs(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": ARTICLE}, {"text": "Another paragraph."}])
    streamed = [row["text"] for row in load_paragraphs(str(path), streaming=True)]
    assert streamed == list(load_paragraphs(str(path))["text"])


def test_missing_corpus_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file matches"):
        load_paragraphs(str(tmp_path / "absent.jsonl"))


def test_missing_text_field_names_the_columns(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"body": "x"}])
    with pytest.raises(ValueError, match="no column 'text' \\(columns: body\\)"):
        load_paragraphs(str(path))


@pytest.fixture
def corpus(tmp_path):
    path = write_jsonl(tmp_path / "c.jsonl", [{"text": f"Paragraph number {i}."} for i in range(300)])
    return str(path)


def test_random_subset_has_exactly_w_s_rows_and_repeats_by_seed(corpus):
    paragraphs = load_paragraphs(corpus)
    first = random_subset(paragraphs, 50, seed=42)["text"]
    assert len(first) == 50 == len(set(first))
    assert list(first) == list(random_subset(paragraphs, 50, seed=42)["text"])
    assert list(first) != list(random_subset(paragraphs, 50, seed=7)["text"])


def test_random_subset_does_not_depend_on_worker_count(corpus):
    one = random_subset(load_paragraphs(corpus, num_proc=1), 40)["text"]
    two = random_subset(load_paragraphs(corpus, num_proc=2), 40)["text"]
    assert list(one) == list(two)


def test_smaller_random_subsets_are_prefixes_of_larger_ones(corpus):
    paragraphs = load_paragraphs(corpus)
    assert list(random_subset(paragraphs, 20)["text"]) == list(random_subset(paragraphs, 100)["text"])[:20]


def test_w_s_larger_than_corpus_is_an_error(corpus):
    with pytest.raises(ValueError, match="W_s = 301 is larger than the corpus \\(300 paragraphs\\)"):
        random_subset(load_paragraphs(corpus), 301)


def test_shared_wikitext_loads_every_paragraph(shared_data):
    path = str(shared_data / "wikitext2" / "paragraphs.jsonl.gz")
    assert len(load_paragraphs(path)) == 19_427
    train = load_paragraphs(path, where={"split": "train"}, normalize_wikitext=True)
    assert len(train) == 15_401
    assert train[0]["text"].startswith("Senjō no Valkyria 3 : [UNK] Chronicles")
    assert not any("@-@" in t or "<unk>" in t for t in train["text"])


def test_shuffled_word_order_keeps_every_paragraph_and_word_count_and_loses_the_order():
    from collections import Counter

    from datasets import Dataset

    from tlm_hf.data.corpus import shuffle_words
    from tlm_hf.settings import SettingsError, SubsetSettings

    texts = [" ".join(f"w{i}-{j}" for j in range(12)) for i in range(20)]
    paragraphs = Dataset.from_dict({"text": texts})
    shuffled = SubsetSettings(w_s=10, subset_seed=3, word_order="shuffled").build(paragraphs, None, None)
    kept = SubsetSettings(w_s=10, subset_seed=3).build(paragraphs, None, None)
    assert [Counter(t.split()) for t in shuffled["text"]] == [Counter(t.split()) for t in kept["text"]]
    assert sum(a != b for a, b in zip(shuffled["text"], kept["text"])) >= 9  # the order is gone
    assert shuffle_words(kept, 3)["text"] == shuffled["text"]  # a fixed seed: the same shuffle every time
    with pytest.raises(SettingsError, match="word_order 'backwards' is not one of kept, shuffled"):
        SubsetSettings(word_order="backwards").build(paragraphs, None, None)
