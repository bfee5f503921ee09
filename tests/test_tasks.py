"""Classification tasks: registry, per-label sampling by seed, FewRel layouts, bad input."""

import collections
import gzip
import json
import logging

import pytest
from data_helpers import task_rows, write_jsonl

from tlm_hf.data.tasks import TASKS, load_task


def label_counts(split):
    return collections.Counter(split["label"])


def test_registry_holds_the_papers_tasks_and_sizes():
    assert (TASKS["ag_news"].train_per_label, TASKS["ag_news"].test_per_label) == (1000, 1000)
    assert len(TASKS["ag_news"].label_names) == 4
    assert (TASKS["dbpedia_14"].train_per_label, len(TASKS["dbpedia_14"].label_names)) == (100, 14)
    assert TASKS["dbpedia_14"].text_fields == ("title", "content")
    assert (TASKS["few_rel"].train_per_label, TASKS["few_rel"].test_per_label) == (630, 70)


@pytest.fixture
def two_files(tmp_path):
    return {
        "train": str(write_jsonl(tmp_path / "train.jsonl", task_rows(20))),
        "test": str(write_jsonl(tmp_path / "test.jsonl", task_rows(10))),
    }


def test_train_and_test_files_are_sampled_per_label_by_seed(two_files):
    def load(seed):
        return load_task("my/news", data_files=two_files, text_column="text", label_column="label",
                         train_per_label=5, test_per_label=3, seed=seed)

    task = load(seed=1)
    assert label_counts(task["train"]) == {0: 5, 1: 5}
    assert label_counts(task["test"]) == {0: 3, 1: 3}
    assert task["train"].features["label"].names == ["0", "1"]
    assert task["train"].to_dict() == load(seed=1)["train"].to_dict()
    assert task["train"].to_dict() != load(seed=2)["train"].to_dict()


def test_one_file_is_split_per_label_into_disjoint_train_and_test(tmp_path):
    rows = [{"text": f"sentence {i}", "label": i % 2} for i in range(40)]
    path = str(write_jsonl(tmp_path / "all.jsonl", rows))
    task = load_task("any/dataset", data_files=path, text_column="text", label_column="label",
                     train_per_label=6, test_per_label=4)
    assert label_counts(task["train"]) == {0: 6, 1: 6} and label_counts(task["test"]) == {0: 4, 1: 4}
    assert not set(task["train"]["text"]) & set(task["test"]["text"])
    other_seed = load_task("any/dataset", data_files=path, text_column="text", label_column="label",
                           train_per_label=6, test_per_label=4, seed=0)
    assert set(other_seed["train"]["text"]) != set(task["train"]["text"])


def test_string_labels_become_class_label_names(tmp_path):
    rows = [{"review": f"text {i}", "sentiment": ["pos", "neg"][i % 2]} for i in range(8)]
    path = str(write_jsonl(tmp_path / "reviews.jsonl", rows))
    task = load_task("my/reviews", data_files=path, text_column="review", label_column="sentiment",
                     train_per_label=2, test_per_label=2)
    assert task["train"].features["label"].names == ["neg", "pos"]
    assert all(text.startswith("text") for text in task["test"]["text"])


def test_dbpedia_text_joins_title_and_content_when_a_title_exists(tmp_path):
    rows = [{"title": "Abbott" if label == 0 else None, "content": f"Content {label}.", "label": label}
            for label in range(14)]
    task = load_task("dbpedia_14", data_files=str(write_jsonl(tmp_path / "d.jsonl", rows * 2)),
                     train_per_label=1, test_per_label=1)
    texts = dict(zip(task["train"]["label"], task["train"]["text"]))
    assert (texts[0], texts[1]) == ("Abbott Content 0.", "Content 1.")


def test_unknown_task_lists_the_known_tasks():
    with pytest.raises(ValueError, match="unknown task 'imdbb'; use one of ag_news, dbpedia_14, few_rel"):
        load_task("imdbb")


def test_missing_label_column_says_how_to_name_it(tmp_path):
    path = str(write_jsonl(tmp_path / "t.jsonl", [{"text": "x", "category": 0}]))
    with pytest.raises(ValueError, match="no column 'label' .*label_column="):
        load_task("ag_news", data_files=path)


def test_label_out_of_range_is_an_error(tmp_path):
    path = str(write_jsonl(tmp_path / "t.jsonl", [{"text": "x", "label": 4}, {"text": "y", "label": 0}]))
    with pytest.raises(ValueError, match="label 4 .* out of range 0..3"):
        load_task("ag_news", data_files=path, train_per_label=1, test_per_label=0)


def test_label_with_fewer_examples_than_asked_is_an_error(two_files):
    with pytest.raises(ValueError, match="label '0' has 20 examples .* fewer than the 21 asked"):
        load_task("my/news", data_files=two_files, text_column="text", label_column="label", train_per_label=21)


def test_missing_task_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="no file matches"):
        load_task("ag_news", data_files={"train": str(tmp_path / "x.jsonl"), "test": str(tmp_path / "y.jsonl")})


# --- FewRel ------------------------------------------------------------------------------------


def fewrel_original(n_relations=3, per_relation=10):
    return {
        f"P{r}": [
            {"tokens": ["Alice", "met", "Bob", f"r{r}", f"i{i}"],
             "h": ["alice", "Q1", [[0]]], "t": ["bob", "Q2", [[2]]]}
            for i in range(per_relation)
        ]
        for r in range(n_relations)
    }


def as_hub_rows(original):
    return [
        {"relation": rel, "tokens": ex["tokens"], "names": [rel],
         "head": {"text": ex["h"][0], "type": ex["h"][1], "indices": ex["h"][2]},
         "tail": {"text": ex["t"][0], "type": ex["t"][1], "indices": ex["t"][2]}}
        for rel, examples in original.items() for ex in examples
    ]


def test_fewrel_original_json_and_hub_layout_give_the_same_task(tmp_path):
    original = fewrel_original()
    json_path = tmp_path / "val_wiki.json.gz"
    json_path.write_bytes(gzip.compress(json.dumps(original).encode()))
    hub_path = write_jsonl(tmp_path / "hub.jsonl", as_hub_rows(original))
    a = load_task("few_rel", data_files=str(json_path), train_per_label=7, test_per_label=3)
    b = load_task("few_rel", data_files=str(hub_path), train_per_label=7, test_per_label=3)
    assert a["train"].to_dict() == b["train"].to_dict() and a["test"].to_dict() == b["test"].to_dict()
    assert a["train"].features["label"].names == ["P0", "P1", "P2"]
    assert label_counts(a["test"]) == {0: 3, 1: 3, 2: 3}


def test_fewrel_relations_are_chosen_by_id_or_by_count(tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps(fewrel_original(n_relations=5)))
    by_id = load_task("few_rel", data_files=str(path), relations=["P3", "P1"], train_per_label=5, test_per_label=5)
    assert by_id["train"].features["label"].names == ["P3", "P1"]
    by_count = load_task("few_rel", data_files=str(path), relations=2, train_per_label=5, test_per_label=5)
    assert len(by_count["train"].features["label"].names) == 2
    with pytest.raises(ValueError, match="unknown relation 'P9'"):
        load_task("few_rel", data_files=str(path), relations=["P9"])


def test_fewrel_entity_markers_wrap_head_and_tail_only_when_asked(tmp_path):
    path = tmp_path / "f.json"
    path.write_text(json.dumps(fewrel_original(n_relations=2, per_relation=2)))  # a classifier needs 2 labels
    plain = load_task("few_rel", data_files=str(path), train_per_label=1, test_per_label=1)
    marked = load_task("few_rel", data_files=str(path), train_per_label=1, test_per_label=1, entity_markers=True)
    assert plain["train"][0]["text"].startswith("Alice met Bob")
    assert marked["train"][0]["text"].startswith("[E1] Alice [/E1] met [E2] Bob [/E2]")


# --- the shared real files ---------------------------------------------------------------------


def test_shared_ag_news_reads_both_files_fully(shared_data):
    files = {"train": str(shared_data / "ag_news/train_partial.jsonl.gz"),
             "test": str(shared_data / "ag_news/test.jsonl.gz")}
    task = load_task("ag_news", data_files=files, train_per_label=2452, test_per_label=1900)
    assert (task["train"].num_rows, task["test"].num_rows) == (4 * 2452, 7600)
    with pytest.raises(ValueError, match="fewer than the 1901 asked"):
        load_task("ag_news", data_files=files, test_per_label=1901)


def test_shared_dbpedia_sample_splits_100_100_per_label(shared_data):
    task = load_task("dbpedia_14", data_files=str(shared_data / "dbpedia_14/dhim_subset_10k.jsonl.gz"))
    assert label_counts(task["train"]) == {label: 100 for label in range(14)} == label_counts(task["test"])
    assert all(text and not text.startswith("None") for text in task["train"]["text"])
    with pytest.raises(ValueError, match="fewer than the 665 asked"):
        load_task("dbpedia_14", data_files=str(shared_data / "dbpedia_14/dhim_subset_10k.jsonl.gz"),
                  train_per_label=600, test_per_label=65)


def test_shared_fewrel_has_16_relations_of_700_split_630_70(shared_data):
    task = load_task("few_rel", data_files=str(shared_data / "fewrel/val_wiki.json.gz"))
    assert len(task["train"].features["label"].names) == 16
    assert (task["train"].num_rows, task["test"].num_rows) == (16 * 630, 16 * 70)


# --- a user's own file: columns and name found, one flag named when something is missing ------------------------


def write_csv(path, header, rows):
    path.write_text("\n".join([",".join(header), *(",".join(row) for row in rows)]) + "\n")
    return str(path)


def topic_rows(per_label=6):
    return [(f"a sentence about {topic} number {i}", topic) for topic in ("sport", "money", "food") for i in range(per_label)]


def test_a_text_label_csv_needs_no_column_flags_and_train_gets_what_test_leaves(tmp_path, caplog):
    path = write_csv(tmp_path / "mine.csv", ["text", "label"], topic_rows())
    with caplog.at_level(logging.WARNING, logger="tlm_hf.data.tasks"):
        task = load_task("mine", data_files=path, test_per_label=2, validation_per_label=1)
    assert task["train"].features["label"].names == ["food", "money", "sport"]
    assert [len(task[s]) for s in ("train", "test", "validation")] == [9, 6, 3]  # 6 per label: 3 + 2 + 1
    assert "split per label by task_seed into disjoint train 9, test 6, validation 3 examples" in caplog.text


def test_two_unnamed_columns_are_told_apart_by_their_length(tmp_path):
    path = write_csv(tmp_path / "topics.csv", ["topic", "sentence"], [(t, s) for s, t in topic_rows()])
    task = load_task("topics", data_files=path, test_per_label=2)
    assert task["test"][0]["text"].startswith("a sentence about")


def test_columns_that_cannot_be_told_apart_name_the_flag_to_add(tmp_path):
    rows = [(s, t, "x") for s, t in topic_rows()]
    path = write_csv(tmp_path / "three.csv", ["text", "topic", "source"], rows)
    with pytest.raises(ValueError, match=r"cannot tell which column holds the label \(columns: text, topic, source\);"
                                         " add --label_column naming it"):
        load_task("three", data_files=path, test_per_label=2)


def test_one_file_without_test_size_names_the_one_flag_to_add(tmp_path):
    path = write_csv(tmp_path / "mine.csv", ["text", "label"], topic_rows())
    with pytest.raises(ValueError, match="mine is one file, split per label into train and test; add --test_per_label N"):
        load_task("mine", data_files=path)


def test_the_task_name_defaults_to_the_files_name(tmp_path):
    from tlm_hf.settings import TaskSettings

    path = write_csv(tmp_path / "my_topics.csv", ["text", "label"], topic_rows())
    task = TaskSettings(task_data=path, test_per_label=2)
    assert len(task.load()["test"]) == 6 and task.task == "my_topics"
