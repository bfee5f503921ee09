"""`tlm stats` and `tlm subset` end to end, on tiny files and on the shared real data."""

import json

import pytest
from data_helpers import (
    ANIMAL_SENTENCES,
    SPORT_SENTENCES,
    make_tokenizer,
    task_rows,
    write_jsonl,
)
from datasets import load_from_disk

from tlm_hf.cli import main


@pytest.fixture
def files(tmp_path):
    tokenizer_dir = tmp_path / "tok"
    make_tokenizer(tokenizer_dir).save_pretrained(tokenizer_dir)
    corpus = write_jsonl(tmp_path / "corpus.jsonl", [{"text": t} for t in (ANIMAL_SENTENCES + SPORT_SENTENCES) * 5])
    train = write_jsonl(tmp_path / "train.jsonl", task_rows(6))
    test = write_jsonl(tmp_path / "test.jsonl", task_rows(4))
    return [
        "--corpus", str(corpus), "--tokenizer", str(tokenizer_dir), "--task", "my/task",
        "--text-column", "text", "--label-column", "label", "--task-data", f"train={train},test={test}",
        "--train-per-label", "3", "--test-per-label", "2",
    ]


def test_stats_json_has_the_paper_quantities(files, capsys):
    assert main(["stats", "--w-s", "10", "--json", *files]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["W_s"] == 10
    assert {"T_W", "T_C", "T_M", "coverage", "coverage_k"} <= set(stats)
    assert 0 <= stats["T_M"] <= stats["T_C"]


def test_stats_without_json_prints_a_table(files, capsys):
    assert main(["stats", *files]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:2] == ["W_s", "30"]  # the whole corpus
    assert any(line.startswith("T_M ") and "task tokens absent from W_s" in line for line in lines)


@pytest.mark.parametrize("kind", ["random", "custom", "avoid"])
def test_subset_writes_the_paragraphs_and_their_stats(files, tmp_path, kind, capsys):
    out = tmp_path / f"{kind}_subset"
    assert main(["subset", "--subset", kind, "--w_s", "8", "--output_dir", str(out), *files]) == 0
    stats = json.loads((out / "stats.json").read_text())
    assert (stats["subset"], stats["W_s"], stats["subset_seed"]) == (kind, 8, 42)
    assert len(load_from_disk(str(out))) == 8
    assert f"wrote 8 paragraphs to {out}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--task", "imdbb", "--text-column", "", "--label-column", "", "--task-data", ""], "unknown task 'imdbb'"),  # no columns
        (["--corpus", "missing.jsonl"], "no file matches 'missing.jsonl'"),
        (["--label-column", "category"], "no column 'category'"),
        (["--w-s", "999"], "W_s = 999 is larger than the corpus"),
        (["--train-per-label", "7"], "fewer than the 7 asked"),
        (["--task-data", "no_such_task_file"], "no file matches 'no_such_task_file'"),
    ],
)
def test_bad_input_is_one_line_naming_cause_and_fix(files, capsys, change, message):
    assert main(["stats", *files, *change]) == 2
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("tlm stats: error:")]
    assert len(err) == 1 and message in err[0] and ";" in err[0]


@pytest.mark.parametrize(
    ("task", "task_args"),
    [
        ("ag_news", ["--task-data", "train={d}/ag_news/train_partial.jsonl.gz,test={d}/ag_news/test.jsonl.gz"]),
        ("dbpedia_14", ["--task-data", "{d}/dbpedia_14/dhim_subset_10k.jsonl.gz"]),
        ("few_rel", ["--task-data", "{d}/fewrel/val_wiki.json.gz", "--relations", "10"]),
    ],
)
def test_stats_run_on_the_shared_data(shared_data, capsys, task, task_args):
    argv = [
        "stats", "--corpus", f"{shared_data}/wikitext2/paragraphs.jsonl.gz", "--corpus_where", "split=train",
        "--normalize-wikitext", "--w-s", "2000", "--task", task, "--tokenizer", f"{shared_data}/bert-base-uncased",
        "--json", *(a.format(d=shared_data) for a in task_args),
    ]
    assert main(argv) == 0
    stats = json.loads(capsys.readouterr().out)
    assert stats["W_s"] == 2000 and 10_000 < stats["T_C"] < 20_000 and 0 < stats["T_M"] < stats["T_C"]
