"""A newcomer's own data end to end, with the documented commands (docs/own-data.md) on small generated files:
pre-train the tiny model on a text file, fine-tune on a text,label CSV, the same from scratch, publish --dry-run."""

import csv
import json
import random

from data_helpers import ANIMAL_SENTENCES, MONEY_SENTENCES, SPORT_SENTENCES
from training_helpers import REPO

# Appended to the documented commands so the test takes seconds: a few steps, one epoch.
QUICK = {"pretrain.py": ["--max_steps", "6", "--per_device_train_batch_size", "16", "--disable_tqdm", "true"],
         "finetune.py": ["--num_train_epochs", "1", "--disable_tqdm", "true"]}


def write_own_files(folder):
    """my_text.txt (a paragraph per line) and my_labels.csv (text,label with string labels), as a user has them."""
    rng = random.Random(0)
    sentences = ANIMAL_SENTENCES + MONEY_SENTENCES + SPORT_SENTENCES
    (folder / "my_text.txt").write_text("".join(" ".join(rng.choices(sentences, k=4)) + "\n" for _ in range(200)))
    rows = [(rng.choice(pool), topic) for topic, pool in
            (("animals", ANIMAL_SENTENCES), ("money", MONEY_SENTENCES), ("sport", SPORT_SENTENCES)) for _ in range(20)]
    with open(folder / "my_labels.csv", "w", newline="") as f:
        csv.writer(f).writerows([("text", "label"), *rows])


def run(command: str, capsys):
    """One documented command (`python train/X.py ...` or `tlm ...`) in this process; its printed output."""
    import runpy
    import sys

    from tlm_hf.cli import main as tlm_main

    words = command.split()
    if words[0] == "tlm":
        assert tlm_main(words[1:]) == 0, capsys.readouterr().err
        return capsys.readouterr().out
    script = words[1]
    old, sys.argv = sys.argv, [script, *words[2:], *QUICK[script.split("/")[-1]]]
    try:
        runpy.run_path(str(REPO / script), run_name="__main__")
    finally:
        sys.argv = old
    return capsys.readouterr().out


OWN_DATA_COMMANDS = [
    "python train/pretrain.py --preset tiny --recipe fast --corpus my_text.txt --output_dir runs/my-pt",
    "python train/finetune.py --pretrained runs/my-pt --task_data my_labels.csv --test_per_label 5 "
    "--output_dir runs/my-ft",
    "python train/finetune.py --pretrained runs/my-pt --scratch --task_data my_labels.csv --test_per_label 5 "
    "--output_dir runs/my-scratch",
    "tlm publish runs/my-ft --repo-id me/my-classifier --scratch-run runs/my-scratch --dry-run",
]


def test_own_text_and_csv_pretrain_finetune_compare_and_publish_with_the_documented_commands(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.chdir(tmp_path)
    write_own_files(tmp_path)
    pretrain, finetune, scratch, publish = (run(command, capsys) for command in OWN_DATA_COMMANDS)

    assert "still on the unigram plateau" in pretrain or "the model uses context" in pretrain  # read out plainly
    stats = json.loads((tmp_path / "runs/my-pt/pretraining_stats.json").read_text())
    assert stats["W_s"] == 180 and stats["heldout_paragraphs"] == 20
    assert "recipe fast: the recipe runs/my-pt was pre-trained with" in finetune
    results = json.loads((tmp_path / "runs/my-ft/results.json").read_text())
    assert results["task"] == "my_labels" and (results["train_size"], results["test_size"]) == (45, 15)
    assert results["learning_rate"] == 1e-3  # the fast recipe's fine-tuning rate, carried from the pre-training
    assert json.loads((tmp_path / "runs/my-scratch/results.json").read_text())["arm"] == "scratch"

    assert "verified without tlm_hf" in publish
    card = (tmp_path / "runs/my-ft/hub_export/README.md").read_text()
    assert "paragraphs of `my_text.txt`" in card and "Wikipedia" not in card and str(tmp_path) not in card
    assert "WordPiece trained on the 180 pre-training paragraphs" in card
    assert "datasets:" not in card  # my_labels is no Hub dataset
    assert "same architecture without pre-training" in card
