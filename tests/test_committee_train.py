"""train/committee.py end to end on tiny data, every shipped committee config, and the latency benchmark."""

import json
import re
import runpy
import sys

import pytest
import torch
from training_helpers import REPO, TINY_MODEL, tiny_files
import yaml
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tlm_hf import PRESETS, ConvBertConfig, ConvBertForMaskedLM, SoftCommitteeForSequenceClassification
from tlm_hf.data.tasks import load_task

SCRIPT = REPO / "train" / "committee.py"
CONFIGS = sorted((REPO / "train" / "configs" / "committee").glob("*.yaml"))


def run_committee(config, *extra, capsys, monkeypatch) -> str:
    """train/committee.py in this process; returns what it printed."""
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["committee.py", "--config", str(config), *extra])
    capsys.readouterr()
    try:
        runpy.run_path(str(SCRIPT), run_name="__main__")
    except SystemExit as exit:
        assert exit.code in (None, 0), exit.code
    return capsys.readouterr().out


def tiny_settings(tmp_path, **settings) -> dict:
    files = tiny_files(tmp_path)
    del files["corpus"], files["preset"]
    return {**files, "num_train_epochs": 2, "per_device_train_batch_size": 8, "learning_rate": 1e-3,
            "save_strategy": "no", "report_to": "none", **settings}


def test_scratch_committee_writes_the_table_and_a_loadable_committee(tmp_path, capsys, monkeypatch):
    config = tmp_path / "committee.yaml"
    config.write_text(yaml.safe_dump(tiny_settings(
        tmp_path, scratch=True, members=["bert-1-h12", "bert-1-h12", "bert-1-cl1-d64-k3x3-h12"],
        config_overrides=TINY_MODEL,
    )))
    out = tmp_path / "run"
    printed = run_committee(config, "--output_dir", str(out), capsys=capsys, monkeypatch=monkeypatch)
    assert len(re.findall(r"\[run\] \d/3 member \d", printed)) == 3

    results = json.loads((out / "results.json").read_text())
    assert [row["model"] for row in results["rows"]] == [
        "member 0: bert-1-h12", "member 1: bert-1-h12", "member 2: bert-1-cl1-d64-k3x3-h12", "soft committee"
    ]
    assert [row["conv_layers"] for row in results["rows"][:3]] == [0, 0, 1] and results["rows"][2]["kernel"] == "3x3"
    assert results["member_accuracies"] == [m["accuracy_final"] for m in results["members"]]
    assert [m["seed"] for m in results["members"]] == [42, 43, 44]  # independent members, own seeds
    assert "| soft committee |" in (out / "results.md").read_text()
    assert (out / "results.csv").read_text().startswith("model,bert_blocks,conv_layers,d,kernel,heads,accuracy")

    # The committee folder: one model, its accuracy is that of the summed member logits on the test split.
    committee = AutoModelForSequenceClassification.from_pretrained(out)
    assert isinstance(committee, SoftCommitteeForSequenceClassification) and len(committee.members) == 3
    tokenizer = AutoTokenizer.from_pretrained(out)
    test = load_task("tiny", data_files=str(tmp_path / "task.jsonl"), text_column="text", label_column="label",
                     train_per_label=8, test_per_label=8)["test"]
    inputs = tokenizer(list(test["text"]), padding=True, return_tensors="pt")
    with torch.no_grad():
        logits = sum(member(**inputs).logits for member in committee.members)
    accuracy = (logits.argmax(-1) == torch.tensor(list(test["label"]))).float().mean().item()
    assert results["committee_accuracy"] == pytest.approx(accuracy)

    again = run_committee(config, "--output_dir", str(out), capsys=capsys, monkeypatch=monkeypatch)
    assert again.count("[cached] member") == 3


def test_pretrained_members_are_fine_tuned_from_their_folders_and_compared_to_a_reference(
    tmp_path, capsys, monkeypatch
):
    settings = tiny_settings(tmp_path)
    del settings["config_overrides"]  # pre-trained members keep their folders' architecture: overrides are refused
    tokenizer = AutoTokenizer.from_pretrained(settings["tokenizer"])
    members = []
    for index, preset in enumerate(["bert-1-h12", "bert-1-cl2-d64-k3x3-h8"]):
        config = ConvBertConfig.from_preset(
            preset, vocab_size=len(tokenizer), hidden_size=32, num_attention_heads=2, intermediate_size=64
        )
        ConvBertForMaskedLM(config).save_pretrained(tmp_path / f"pretrain-{index}")
        members.append(str(tmp_path / f"pretrain-{index}"))
    reference = tmp_path / "bert-6"  # as train/finetune.py leaves it: config.json and results.json
    ConvBertConfig.from_preset("bert-6", vocab_size=len(tokenizer)).save_pretrained(reference)
    (reference / "results.json").write_text(json.dumps({"accuracy_final": 0.75}))
    config = tmp_path / "committee.yaml"
    config.write_text(yaml.safe_dump({**settings, "members": members, "reference": str(reference)}))
    run_committee(config, "--output_dir", str(tmp_path / "run"), capsys=capsys, monkeypatch=monkeypatch)
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [m["arm"] for m in results["members"]] == ["pretrained", "pretrained"]
    assert results["rows"][-1] == dict(
        model="reference: bert-6", bert_blocks=6, conv_layers=0, d="-", kernel="-", heads=12, accuracy=0.75
    )
    assert results["reference_accuracy"] == 0.75


def test_members_of_fast_recipe_folders_are_fine_tuned_with_the_fast_recipe_and_the_run_says_so(
    tmp_path, capsys, monkeypatch
):
    """As train/finetune.py does: the recipe travels with the pre-trained folders unless --recipe names another."""
    settings = tiny_settings(tmp_path)
    for key in ("config_overrides", "learning_rate"):  # the folders' architecture; the recipe's learning rate
        del settings[key]
    tokenizer = AutoTokenizer.from_pretrained(settings["tokenizer"])
    members = []
    for index in range(2):
        folder = tmp_path / f"fast-pt-{index}"
        config = ConvBertConfig.from_preset("bert-1-h12", vocab_size=len(tokenizer), hidden_size=32,
                                            num_attention_heads=2, intermediate_size=64)
        ConvBertForMaskedLM(config).save_pretrained(folder)
        (folder / "run_config.json").write_text(json.dumps({"stage": "pretraining", "settings": {"recipe": "fast"},
                                                            "training": {}}))
        members.append(str(folder))
    config = tmp_path / "committee.yaml"
    config.write_text(yaml.safe_dump({**settings, "members": members}))
    out = tmp_path / "run"
    printed = run_committee(config, "--output_dir", str(out), capsys=capsys, monkeypatch=monkeypatch)

    choices = printed[printed.index("choices made for this run:"):].split("\n[")[0]
    assert f"recipe fast (the recipe {members[0]}, {members[1]} were pre-trained with; --recipe chooses another)" \
        in choices and "lr 0.001" in choices and "(every member)" in choices
    assert "task tiny: text column 'text', label column 'label'" in choices
    assert "examples: train 16, test 16 (one file split per label by task_seed 42)" in choices
    assert "members (2, fine-tuned from): 0: fast-pt-0, 1: fast-pt-1" in choices
    for index in range(2):
        member = json.loads((out / "members" / f"{index}-fast-pt-{index}" / "run_config.json").read_text())
        assert member["settings"]["recipe"] == "fast"
        assert (member["training"]["learning_rate"], member["training"]["warmup_steps"]) == (1e-3, 0.1)
    assert json.loads((out / "run_config.json").read_text())["settings"]["recipe"] == "fast"

    paper = run_committee(config, "--output_dir", str(tmp_path / "paper"), "--recipe", "paper", capsys=capsys,
                          monkeypatch=monkeypatch)
    assert f"recipe paper (given; {members[0]}, {members[1]} were pre-trained with fast)" in paper


def test_a_committee_without_members_stops_with_one_line(tmp_path, capsys, monkeypatch):
    config = tmp_path / "committee.yaml"
    config.write_text(yaml.safe_dump(tiny_settings(tmp_path)))
    monkeypatch.setattr(sys, "argv", ["committee.py", "--config", str(config), "--output_dir", str(tmp_path / "o")])
    with pytest.raises(SystemExit, match="committee.py: error: no members"):
        runpy.run_path(str(SCRIPT), run_name="__main__")


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_committee_config_parses(config, capsys, monkeypatch):
    """--help after --config: the script checks every key of the file, then prints its help and stops."""
    assert "--members" in run_committee(config, "--help", capsys=capsys, monkeypatch=monkeypatch)
    settings = yaml.safe_load(config.read_text())
    if settings.get("scratch"):
        assert set(settings["members"]) <= set(PRESETS)


def test_the_table_configs_are_shipped():
    assert {p.name for p in CONFIGS} >= {"table8a.yaml", "table8b.yaml", "table9.yaml"}


def test_latency_benchmark_ends_with_the_ratio_line(capsys, monkeypatch):
    argv = ["bench_latency.py", "--committees", "cheap", "--ratio-committee", "cheap", "--batch-sizes", "1",
            "--seq-len", "16", "--warmup", "0", "--repeats", "2"]
    monkeypatch.setattr(sys, "argv", argv)
    runpy.run_path(str(REPO / "train" / "benchmarks" / "bench_latency.py"), run_name="__main__")
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1].startswith("latency ratio: ") and float(lines[-1].split(": ")[1]) > 0
    assert any(line.startswith("| cheap committee | 8 | 1 |") for line in lines)
    assert any("BERT-6 25 vs BERT-1 with two CLs 7" in line for line in lines)
