"""Fine-tuning chooses on validation only: the learning rate, the epoch and which runs failed stay the same when
the test labels are permuted, and choices on the edge of the search are flagged."""

import json

from data_helpers import make_tokenizer, task_rows, write_jsonl
from training_helpers import TINY_MODEL, run_script

from tlm_hf.training.claims.analysis import FineTuneResult, Unit, mark_failed
from tlm_hf.training.finetuning import grid_edges


def fine_tune_all(tmp_path, name: str, test_rows: list[dict]) -> list[dict]:
    train = write_jsonl(tmp_path / "train.jsonl", task_rows(16))
    test = write_jsonl(tmp_path / f"{name}-test.jsonl", test_rows)
    results = []
    for seed in (0, 1, 2):
        out = tmp_path / f"{name}-seed{seed}"
        run_script("finetune.py", {
            "scratch": True, "preset": "bert-1-h24", "config_overrides": TINY_MODEL,
            "tokenizer": str(tmp_path / "tokenizer"), "task": "tiny", "task_data": f"train={train},test={test}",
            "train_per_label": 8, "validation_per_label": 4, "test_per_label": 8, "max_length": 32,
            "learning_rates": [3e-4, 3e-3], "select_epoch": True, "num_train_epochs": 3,
            "per_device_train_batch_size": 4, "seed": seed, "output_dir": str(out), "disable_tqdm": True})
        results.append(json.loads((out / "results.json").read_text()))
    return results


def test_permuting_the_test_labels_changes_no_choice(tmp_path):
    make_tokenizer(tmp_path / "tokenizer").save_pretrained(tmp_path / "tokenizer")
    rows = task_rows(8)
    permuted = [{**row, "label": 1 - row["label"]} for row in rows]  # every test label wrong, counts kept
    true, flipped = fine_tune_all(tmp_path, "true", rows), fine_tune_all(tmp_path, "permuted", permuted)
    chosen = ("learning_rate", "epoch", "validation_accuracy", "learning_rate_search", "grid_edges")
    for a, b in zip(true, flipped):
        assert {k: a[k] for k in chosen} == {k: b[k] for k in chosen}
        # the same chosen model, tested once on every test label flipped: its accuracies add up to 1
        assert a["accuracy_final"] + b["accuracy_final"] == 1

    def failed(results):
        arm = tuple(FineTuneResult.from_results(r) for r in results)
        return [r.failed for r in mark_failed([Unit("row", 1, 1, arm, arm)])[0].pretrained]

    assert failed(true) == failed(flipped)


def test_a_choice_on_the_edge_of_the_grid_is_flagged():
    assert grid_edges([1e-3, 3e-3], 3e-3, 2, 4, select_epoch=True) == ["highest learning rate"]
    assert grid_edges([1e-3, 3e-3, 1e-2], 3e-3, 4, 4, select_epoch=True) == ["last epoch"]
    assert grid_edges([1e-3, 3e-3, 1e-2], 1e-3, 4, 4, select_epoch=False) == ["lowest learning rate"]
    assert grid_edges([1e-3], 1e-3, 1, 4, select_epoch=True) == []
