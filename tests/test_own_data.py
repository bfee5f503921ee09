"""A newcomer's own data end to end, with the documented commands (docs/own-data.md) on small generated files:
pre-train the tiny model on a text file, fine-tune on a text,label CSV, the same from scratch, publish --dry-run."""

import csv
import json
import random

from data_helpers import ANIMAL_SENTENCES, MONEY_SENTENCES, SPORT_SENTENCES
from remote_code import run_without_tlm_hf
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


def documented_python(section: str) -> str:
    """The first python block of a section of docs/own-data.md."""
    text = (REPO / "docs" / "own-data.md").read_text()
    after = text[text.index(section):]
    return after[after.index("```python") + len("```python"):].split("```")[0]


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
    assert "(--recipe fast)" not in pretrain  # no advice to use the recipe it used
    stats = json.loads((tmp_path / "runs/my-pt/pretraining_stats.json").read_text())
    assert stats["W_s"] == 180 and stats["heldout_paragraphs"] == 20
    # each run says what it chose once, and its plan before the first step: steps, epochs, what else is trained
    assert pretrain.count("choices made for this run:") == 1
    assert "recipe fast (given): pre-training lr 0.002, 6 steps, batch 16" in pretrain
    assert "a WordPiece vocabulary of at most 4,096 tokens, trained on the 180 pre-training paragraphs" in pretrain
    assert ("plan: pre-training 6 steps (1 epoch of about 6 steps, batch 16); also trained: a WordPiece vocabulary of "
            "at most 4,096 tokens on the 180 paragraphs (done before the first step)\n" in pretrain)
    assert finetune.count("choices made for this run:") == 1
    assert "recipe fast (the recipe runs/my-pt was pre-trained with; --recipe chooses another)" in finetune
    assert "task my_labels: text column 'text', label column 'label' (--text_column / --label_column" in finetune
    assert "labels (3): animals, money, sport" in finetune
    assert "examples: train 45, test 15 (one file split per label by task_seed 42)" in finetune
    assert "plan: fine-tuning " in finetune
    assert "best" not in finetune and "test accuracy: " in finetune  # never a maximum picked on the test split
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

    # the card is about the user's task: its labels, a fluctuation from its test size, an example from its test split
    assert "3 labels:\nanimals, money, sport" in card and "| labels | animals, money, sport |" in card
    accuracy = results["accuracy_final"]
    error = 100 * (accuracy * (1 - accuracy) / 15) ** 0.5
    assert f"With 15 test examples, the accuracy's standard error is about {error:.1f} points" in card
    assert "to reproduce" not in card and "best" not in card and "1% fluctuation" not in card
    assert f"classify({json.loads((tmp_path / 'runs/my-ft/results.json').read_text())['example_text']!r})" in card
    assert "model-index" in card and "type: csv" in card and "name: my_labels" in card
    # the documented way to load and run it works where tlm_hf is not installed, with no remote-code prompt
    loaded = run_without_tlm_hf(documented_python("## Loading and running your classifier"), tmp_path=tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert {"animals", "money", "sport"} & set(loaded.stdout.replace("'", " ").split())
    exported = json.loads((tmp_path / "runs/my-ft/hub_export/run_config.json").read_text())
    assert exported["settings"]["preset"] == "tiny"  # the shape it has, not the parser's default
    assert exported["model_shape"]["hidden_size"] == 128 and exported["model_shape"]["num_hidden_layers"] == 2
