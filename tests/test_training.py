"""Pre-training and fine-tuning: the paper's masking, Trainer's loss under accumulation, the scripts'
run folders, resume, determinism, multi-process launch and one-line errors for bad input."""

import json
import os
import shutil
import subprocess

import pytest
import torch
from data_helpers import make_task, make_tokenizer
from datasets import Dataset, DatasetDict, Features, Value
from safetensors.torch import load_file
from training_helpers import REPO, TINY_MODEL, as_flags, run_script, tiny_files
from transformers import AutoTokenizer, DataCollatorForLanguageModeling, Trainer, TrainingArguments

from tlm_hf import ConvBertForMaskedLM, ConvBertForSequenceClassification
from tlm_hf.data.corpus import load_paragraphs, random_subset
from tlm_hf.data.tasks import load_task
from tlm_hf.training.finetuning import (
    accuracy_summary,
    build_classifier,
    check_labels,
    classification_trainer,
    load_accuracy,
)
from tlm_hf.training.mlm import mlm_collator, tokenize_paragraphs
from tlm_hf.arguments import parse_settings
from tlm_hf.settings import ModelSettings, SettingsError, TaskSettings, parse_key_values
from tlm_hf.training.runs import claim_run_dir
from tlm_hf.data.tokenizer import load_tokenizer

QUIET = dict(report_to="none", disable_tqdm=True, dataloader_pin_memory=False, save_strategy="no")


def tiny_mlm(tokenizer, **overrides):
    config = ModelSettings(preset="bert-1-h24", config_overrides=TINY_MODEL).config(tokenizer, **overrides)
    return ConvBertForMaskedLM(config)


# --- masking and loss ------------------------------------------------------------------------------------


def test_collator_masks_like_the_paper_and_pads_each_batch_to_its_longest_row(tmp_path):
    tokenizer = make_tokenizer(tmp_path)
    rows = tokenize_paragraphs(Dataset.from_dict({"text": ["the cat sat on the mat ."] * 400 + ["a dog ."] * 400}),
                               tokenizer)
    torch.manual_seed(0)
    batch = mlm_collator(tokenizer)([rows[i] for i in range(800)])
    assert batch["input_ids"].shape == (800, 16)  # 9 tokens with [CLS]/[SEP], padded to a multiple of 8
    labels, inputs = batch["labels"], batch["input_ids"]
    selected = labels != -100
    assert not torch.isin(labels[selected], torch.tensor(tokenizer.all_special_ids)).any()  # never special
    assert (labels[batch["attention_mask"] == 0] == -100).all()  # padding included
    share = selected.sum() / (batch["attention_mask"].sum() - 2 * 800)  # of the tokens between [CLS] and [SEP]
    assert 0.13 < share < 0.17
    masked = (inputs[selected] == tokenizer.mask_token_id).float().mean()
    kept = (inputs[selected] == labels[selected]).float().mean()
    assert 0.75 < masked < 0.85 and 0.05 < kept < 0.15


def test_mlm_loss_falls_on_real_wikitext(tmp_path):
    tokenizer = load_tokenizer("sample:bert-base-uncased")  # the real data bundled with the package
    paragraphs = load_paragraphs("sample:wikitext2", where={"split": "train"},
                                 normalize_wikitext=True)
    data = tokenize_paragraphs(random_subset(paragraphs, 320, 42), tokenizer, max_length=32)
    args = TrainingArguments(output_dir=str(tmp_path), per_device_train_batch_size=16, max_steps=20,
                             learning_rate=1e-2, logging_steps=5, **QUIET)
    trainer = Trainer(model=tiny_mlm(tokenizer), args=args, train_dataset=data, data_collator=mlm_collator(tokenizer))
    trainer.train()
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert losses[0] > 9.5  # about ln(30,522) = 10.3 at the start
    assert losses[-1] < losses[0] - 1.5


def test_gradient_accumulation_gives_the_loss_and_update_of_the_larger_batch(tmp_path):
    """Two half batches accumulated: same logged loss and same weights as one whole batch."""
    tokenizer = make_tokenizer(tmp_path / "tokenizer")
    texts = ["the cat sat on the mat .", "a dog ran .", "the stock market fell , the bank rose .", "a team won ."]
    data = tokenize_paragraphs(Dataset.from_dict({"text": texts * 2}), tokenizer)
    # every token masked by [MASK]: the inputs do not depend on how the batch is split
    collator = DataCollatorForLanguageModeling(tokenizer, mlm_probability=1.0, mask_replace_prob=1.0,
                                               random_replace_prob=0.0)
    runs = []
    for batch_size, accumulation in ((8, 1), (4, 2)):
        torch.manual_seed(0)
        model = tiny_mlm(tokenizer, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
        args = TrainingArguments(output_dir=str(tmp_path / str(batch_size)), per_device_train_batch_size=batch_size,
                                 gradient_accumulation_steps=accumulation, max_steps=1, logging_steps=1,
                                 learning_rate=1e-2, seed=0, **QUIET)
        trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collator)
        trainer.train()
        runs.append((trainer.state.log_history[0]["loss"], model.state_dict()))
    (loss_whole, whole), (loss_split, split) = runs
    assert loss_split == pytest.approx(loss_whole, rel=1e-4)
    for name in whole:
        torch.testing.assert_close(split[name], whole[name], rtol=1e-4, atol=1e-5)


# --- the scripts -----------------------------------------------------------------------------------------


@pytest.fixture
def tiny(tmp_path):
    return tiny_files(tmp_path)


def tiny_task(settings: dict) -> dict:
    """The settings without the corpus: what train/finetune.py takes."""
    return {key: value for key, value in settings.items() if key != "corpus"}


def test_pretrain_resume_continues_the_interrupted_run(tiny, tmp_path):
    out = tmp_path / "pretrain"
    settings = {**tiny, "w_s": 48, "per_device_train_batch_size": 8, "max_steps": 4, "save_strategy": "steps",
                "save_steps": 2, "logging_strategy": "steps", "logging_steps": 1, "learning_rate": 1e-3,
                "output_dir": str(out), "disable_tqdm": True}
    run_script("pretrain.py", settings)
    for name in ("config.json", "model.safetensors", "tokenizer.json", "run_config.json", "pretraining_stats.json",
                 "configuration_conv_bert.py", "modeling_conv_bert.py"):
        assert (out / name).exists(), name
    stats = json.loads((out / "pretraining_stats.json").read_text())
    assert stats["W_s"] == 48 and stats["subset"] == "random" and stats["seed"] == 42 and "T_M" in stats
    assert json.loads((out / "config.json").read_text())["auto_map"]
    uninterrupted = load_file(out / "model.safetensors")
    final_state = json.loads((out / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    uninterrupted_rates = [e["learning_rate"] for e in final_state["log_history"] if "loss" in e]

    # interrupted after step 2: only checkpoint-2 is left
    shutil.rmtree(out / "checkpoints" / "checkpoint-4")
    for name in ("model.safetensors", "pretraining_stats.json"):
        (out / name).unlink()
    run_script("pretrain.py", settings, "--resume")
    state = json.loads((out / "checkpoints" / "checkpoint-4" / "trainer_state.json").read_text())
    assert state["global_step"] == 4
    assert [e["step"] for e in state["log_history"] if "loss" in e] == [1, 2, 3, 4]  # steps 1-2 restored
    # the optimizer and schedule continue where they stopped: same learning rates as the uninterrupted run
    assert [e["learning_rate"] for e in state["log_history"] if "loss" in e] == uninterrupted_rates
    assert load_file(out / "model.safetensors").keys() == uninterrupted.keys()


def test_finetune_with_the_same_seed_gives_the_same_numbers(tiny, tmp_path):
    results = []
    for run in ("a", "b"):
        out = tmp_path / run
        run_script("finetune.py", {**tiny_task(tiny), "scratch": True, "num_train_epochs": 2, "learning_rate": 1e-3,
                                   "per_device_train_batch_size": 4, "seed": 3, "output_dir": str(out),
                                   "disable_tqdm": True})
        results.append(json.loads((out / "results.json").read_text()))
    assert results[0] == results[1]
    result = results[0]
    assert result["arm"] == "scratch" and result["pretrained_from"] is None and result["seed"] == 3
    assert len(result["accuracy_per_epoch"]) == 2 and result["accuracy_final"] == result["accuracy_per_epoch"][-1]
    assert result["accuracy_best"] == max(result["accuracy_per_epoch"]) and result["best_epoch"] in (1, 2)
    assert (result["train_size"], result["test_size"], result["num_labels"]) == (16, 16, 2)
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    assert config["id2label"] == {"0": "0", "1": "1"}
    weights_a, weights_b = (load_file(tmp_path / run / "model.safetensors") for run in ("a", "b"))
    for name in weights_a:
        torch.testing.assert_close(weights_a[name], weights_b[name], rtol=0, atol=0)


@pytest.mark.parametrize("evaluation, evaluations", [
    ({"eval_strategy": "steps", "eval_steps": 3}, 3),  # steps 3, 6 and the last, 8
    ({"eval_strategy": "epoch", "max_steps": 6}, 2),  # after epoch 1 and at step 6, mid-epoch 2
    ({"eval_strategy": "no"}, 1),  # the final model once
], ids=["steps-not-dividing-the-run", "epochs-stopped-mid-epoch", "none"])
def test_finetune_final_accuracy_is_the_saved_models_whatever_the_evaluation_schedule(
        tiny, tmp_path, evaluation, evaluations):
    out = tmp_path / "run"
    run_script("finetune.py", {**tiny_task(tiny), "scratch": True, "num_train_epochs": 2, "learning_rate": 1e-3,
                               "per_device_train_batch_size": 4, "seed": 3, "output_dir": str(out), "disable_tqdm": True,
                               **evaluation})
    result = json.loads((out / "results.json").read_text())
    assert len(result["accuracy_per_epoch"]) == evaluations
    task = load_task("tiny", data_files=tiny["task_data"], text_column="text", label_column="label",
                     train_per_label=8, test_per_label=8)
    saved = classification_trainer(ConvBertForSequenceClassification.from_pretrained(out),
                                   AutoTokenizer.from_pretrained(out), task,
                                   TrainingArguments(output_dir=str(tmp_path / "eval"), **QUIET))
    assert result["accuracy_final"] == saved.evaluate()["eval_accuracy"]


@pytest.mark.parametrize("launch, world_size", [
    # accelerate 1.15 starts one process for --cpu (several CPU processes need MPI) ...
    (["--num_processes", "2", "--cpu", str(REPO / "train" / "pretrain.py")], 1),
    # ... and two DDP processes (gloo) with its multi-process launcher and TrainingArguments' use_cpu; the command
    # as a module, as an installed package (and a plan's --launcher) starts it
    (["--num_processes", "2", "--multi_gpu", "-m", "tlm_hf.commands.pretrain"], 2),
], ids=["cpu", "two-processes"])
def test_accelerate_launch_runs_pretraining(launch, world_size, tiny, tmp_path):
    out = tmp_path / "run"
    command = ["accelerate", "launch", *launch,
               *as_flags({**tiny, "w_s": 32, "per_device_train_batch_size": 4, "max_steps": 2, "use_cpu": True,
                          "save_strategy": "no", "output_dir": str(out), "disable_tqdm": True})]
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"},
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads((out / "run_config.json").read_text())["training"]["world_size"] == world_size
    assert json.loads((out / "pretraining_stats.json").read_text())["global_step"] == 2
    assert (out / "model.safetensors").exists()


# --- bad input: one line naming the cause and the fix ----------------------------------------------------


def test_unknown_preset_is_refused(tmp_path):
    with pytest.raises(SettingsError, match="unknown preset 'bert-7'.*bert-6"):
        ModelSettings(preset="bert-7").config(make_tokenizer(tmp_path))


def test_unknown_task_is_refused():
    with pytest.raises(ValueError, match="unknown task 'agnews'; use one of ag_news"):
        TaskSettings(task="agnews").load()


def test_tokenizer_that_does_not_fit_the_model_is_refused(tmp_path):
    tokenizer = make_tokenizer(tmp_path)
    with pytest.raises(SettingsError, match="tokenizer has 29 tokens but the model's vocabulary has 30522"):
        ModelSettings(preset="bert-6", config_overrides="vocab_size=30522").config(tokenizer)
    folder = tmp_path / "mlm"
    tiny_mlm(tokenizer).save_pretrained(folder)
    bigger = make_tokenizer(tmp_path / "bigger")
    bigger.add_tokens(["zebra"])
    task = make_task(["the cat ."], ["a dog ."])
    with pytest.raises(SettingsError, match="tokenizer has 30 tokens but the model's vocabulary has 29"):
        build_classifier(task, bigger, pretrained=folder)


def test_unknown_setting_in_yaml_or_on_the_command_line_is_refused(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("task: ag_news\nlearnig_rate: 1e-4\n")
    with pytest.raises(SettingsError, match="unknown setting 'learnig_rate'; did you mean 'learning_rate'"):
        parse_settings((TaskSettings, TrainingArguments), ["--config", str(config)])
    with pytest.raises(SettingsError, match="unknown option '--taks'"):
        parse_settings((TaskSettings,), ["--taks", "ag_news"])


def test_yaml_values_are_typed_and_the_command_line_wins(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("task: ag_news\nlearning_rate: 5e-5\nweight_decay: 1.2e-2\n")
    task, args = parse_settings((TaskSettings, TrainingArguments),
                                ["--config", str(config), "--learning_rate", "8e-5", "--output_dir", str(tmp_path)])
    assert task.task == "ag_news" and args.learning_rate == 8e-5 and args.weight_decay == 0.012
    assert parse_key_values("hidden_size=32,hidden_act=gelu", setting="config_overrides", typed=True) == {
        "hidden_size": 32, "hidden_act": "gelu"}


def test_output_folder_of_a_different_run_is_refused(tmp_path):
    first = {"settings": {"w_s": 2000}, "training": {"learning_rate": 5e-5}}
    claim_run_dir(tmp_path, first, main_process=True)
    claim_run_dir(tmp_path, first, main_process=True)  # the same run again (or resumed) is fine
    (tmp_path / "checkpoints" / "checkpoint-2").mkdir(parents=True)  # the first run saved something
    with pytest.raises(SettingsError, match=r"already holds a different run \(w_s was 2000, now 5000\)"):
        claim_run_dir(tmp_path, {**first, "settings": {"w_s": 5000}}, main_process=True)


def test_resume_without_a_checkpoint_is_refused(tiny, tmp_path):
    with pytest.raises(SystemExit, match="--resume: no checkpoint in .*; run without --resume"):
        run_script("pretrain.py", {**tiny, "w_s": 8, "output_dir": str(tmp_path / "none")}, "--resume")


def test_labels_out_of_range_are_refused():
    features = Features({"text": Value("string"), "label": Value("int64")})
    task = DatasetDict(train=Dataset.from_dict({"text": ["a"], "label": [1]}, features=features),
                       test=Dataset.from_dict({"text": ["b"], "label": [4]}, features=features))
    with pytest.raises(SettingsError, match="label 4 in the test split is outside 0..1"):
        check_labels(task, 2)


def test_accuracy_metric_loads_offline_and_summary_reads_per_epoch_accuracy():
    assert load_accuracy().compute(predictions=[0, 1, 1, 0], references=[0, 1, 0, 0]) == {"accuracy": 0.75}
    history = [{"loss": 1.0, "epoch": 1.0}, {"eval_accuracy": 0.5, "epoch": 1.0}, {"eval_accuracy": 0.75, "epoch": 2.0},
               {"eval_accuracy": 0.7, "epoch": 3.0}]
    assert accuracy_summary(history) == {"accuracy_final": 0.7, "accuracy_best": 0.75, "best_epoch": 2,
                                         "accuracy_per_epoch": [0.5, 0.75, 0.7]}


# --- pushing to the Hub ----------------------------------------------------------------------------------


def test_push_to_hub_without_a_token_fails_before_training(tiny, tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("tlm_hf.hub.publish.get_token", lambda: None)
    out = tmp_path / "ft"
    with pytest.raises(SystemExit, match="No Hugging Face token: set HF_TOKEN"):
        run_script("finetune.py", {**tiny_task(tiny), "scratch": True, "output_dir": str(out),
                                   "push_to_hub": True, "hub_model_id": "me/tiny"})
    assert not (out / "results.json").exists()


def test_push_to_hub_publishes_the_run_folder_with_its_card(tiny, tmp_path, monkeypatch):
    uploads = []
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr("tlm_hf.hub.publish.upload", lambda folder, repo_id, **kw: uploads.append((folder, repo_id, kw))
                        or f"https://hf.co/{repo_id}/commit/1")
    out = tmp_path / "ft"
    run_script("finetune.py", {**tiny_task(tiny), "scratch": True, "num_train_epochs": 1, "output_dir": str(out),
                               "per_device_train_batch_size": 4, "push_to_hub": True, "hub_model_id": "me/tiny",
                               "disable_tqdm": True})
    ((folder, repo_id, options),) = uploads
    assert repo_id == "me/tiny" and options["private"] is False
    assert {"README.md", "model.safetensors", "results.json", "modeling_conv_bert.py"} <= {
        path.name for path in folder.iterdir()}
    assert "accuracy" in (folder / "README.md").read_text()
