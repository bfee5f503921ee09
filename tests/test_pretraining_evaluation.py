"""Held-out MLM evaluation (loss, accuracy, unigram loss, context gain), the bundled data sample, validation
splits and learning-rate choice, the named recipes, and the experiment plan that uses them."""

import json
import math

import numpy as np
import pytest
import torch
import yaml
from data_helpers import make_tokenizer
from datasets import Dataset
from training_helpers import run_script, tiny_files
from transformers import EvalPrediction

from tlm_hf.arguments import parse_settings
from tlm_hf.data.corpus import load_paragraphs, split_heldout
from tlm_hf.data.samples import resolve_sample
from tlm_hf.data.tasks import load_task
from tlm_hf.hub.model_card import build_model_card
from tlm_hf.settings import EXPERIMENT_SETTINGS, PRETRAIN_SETTINGS
from tlm_hf.training.experiments import plan_experiment
from tlm_hf.training.mlm import heldout_metrics, masked_heldout, per_token_predictions, unigram_log_probs
from tlm_hf.training.recipes import RECIPES




# --- held-out evaluation -------------------------------------------------------------------------------------


def test_heldout_metrics_score_sparse_logits_and_compare_with_the_unigram_predictor():
    counts = np.array([0, 0, 6, 2])  # vocabulary of 4; ids 0 and 1 never occur in W_s
    labels = torch.tensor([[-100, 2, -100], [3, -100, 2]])  # three masked tokens, row-major: 2, 3, 2
    logits = torch.log(torch.tensor([[0.1, 0.1, 0.7, 0.1], [0.1, 0.1, 0.2, 0.6], [0.25, 0.25, 0.25, 0.25]]))
    per_example = per_token_predictions(logits, labels)
    torch.testing.assert_close(per_example[:, 2], torch.tensor([1.0, 2.0]))  # masked tokens of each example
    metrics = heldout_metrics(counts)(EvalPrediction(predictions=per_example.numpy(), label_ids=labels.numpy()))
    mlm_loss = -(math.log(0.7) + math.log(0.6) + math.log(0.25)) / 3
    unigram = -(2 * math.log(7 / 12) + math.log(3 / 12)) / 3  # add-one smoothed: (6+1)/(8+4), (2+1)/(8+4)
    assert metrics["mlm_loss"] == pytest.approx(mlm_loss, rel=1e-5)
    assert metrics["accuracy"] == pytest.approx(2 / 3)  # the uniform row's argmax (id 0) is wrong
    assert metrics["unigram_loss"] == pytest.approx(unigram)
    assert metrics["context_gain"] == pytest.approx(unigram - mlm_loss, rel=1e-5)
    assert metrics["perplexity"] == pytest.approx(math.exp(mlm_loss), rel=1e-5)
    assert unigram_log_probs(counts).shape == (4,)


def test_heldout_paragraphs_are_never_in_the_subset_and_are_the_same_for_every_w_s():
    paragraphs = Dataset.from_dict({"text": [f"paragraph {i}" for i in range(200)]})
    rest, heldout = split_heldout(paragraphs, 500, seed=42)
    assert len(heldout) == 20  # at most a tenth of the corpus
    assert not set(heldout["text"]) & set(rest["text"]) and len(rest) + len(heldout) == 200
    assert split_heldout(paragraphs, 500, seed=42)[1]["text"] == heldout["text"]


def test_heldout_masks_are_fixed_and_only_hide_non_special_tokens(tmp_path):
    tokenizer = make_tokenizer(tmp_path)
    paragraphs = Dataset.from_dict({"text": ["the cat sat on the mat ."] * 40})
    first, second = (masked_heldout(paragraphs, tokenizer, seed=0) for _ in range(2))
    assert first["labels"] == second["labels"] and first["input_ids"] == second["input_ids"]
    labels, inputs = np.array(first["labels"]), np.array(first["input_ids"])
    masked = labels != -100
    assert 0.05 < masked.mean() < 0.25
    assert (inputs[masked] == tokenizer.mask_token_id).all()  # every selected token is [MASK]
    assert not np.isin(labels[masked], tokenizer.all_special_ids).any()


def test_pretraining_records_heldout_loss_unigram_loss_and_context_gain_per_epoch(tmp_path):
    out = tmp_path / "pretrain"
    settings = {**tiny_files(tmp_path), "w_s": 48, "per_device_train_batch_size": 8, "num_train_epochs": 2,
                "learning_rate": 1e-3, "pretraining_dropout": 0.0, "output_dir": str(out), "disable_tqdm": True}
    run_script("pretrain.py", settings)
    stats = json.loads((out / "pretraining_stats.json").read_text())
    assert stats["heldout_paragraphs"] == 6 and stats["heldout_source"] == "drawn outside W_s"
    assert stats["context_gain"] == pytest.approx(stats["unigram_loss"] - stats["heldout_mlm_loss"])
    assert 0 <= stats["heldout_accuracy"] <= 1 and stats["heldout_masked_tokens"] > 0
    assert [entry["epoch"] for entry in stats["heldout_per_epoch"]] == [1.0, 2.0]
    config = json.loads((out / "config.json").read_text())
    assert config["hidden_dropout_prob"] == 0.1  # dropout was off while pre-training, kept for fine-tuning
    card = str(build_model_card(out))
    assert "Held-out masked-language-model evaluation" in card and f"{stats['context_gain']:+.3f}" in card


def test_pretraining_can_train_its_vocabulary_on_w_s_and_hold_out_a_named_split(tmp_path):
    rows = [{"text": t, "split": s} for s in ("train", "valid") for t in
            ["the cat sat on the mat .", "a dog ran in the park .", "the bank rose ."] * 20]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(row) + "\n" for row in rows))
    out = tmp_path / "pretrain"
    run_script("pretrain.py", {"corpus": str(corpus), "corpus_where": "split=train", "heldout_where": "split=valid",
                               "heldout_size": 10, "wordpiece_vocab_size": 60, "w_s": 40, "preset": "bert-1-h24",
                               "config_overrides": "hidden_size=32,num_attention_heads=2,intermediate_size=64",
                               "per_device_train_batch_size": 8, "num_train_epochs": 1, "output_dir": str(out),
                               "disable_tqdm": True})
    stats = json.loads((out / "pretraining_stats.json").read_text())
    assert stats["heldout_source"] == "split=valid" and stats["heldout_paragraphs"] == 10
    config = json.loads((out / "config.json").read_text())
    assert config["vocab_size"] == len(json.loads((out / "tokenizer.json").read_text())["model"]["vocab"]) <= 60


# --- bundled sample, validation split, learning-rate choice -----------------------------------------------------


def test_bundled_sample_loads_without_any_data_folder():
    paragraphs = load_paragraphs("sample:wikitext2", where={"split": "valid"}, normalize_wikitext=True)
    assert len(paragraphs) == 1000 and " @-@ " not in "".join(paragraphs["text"][:50])
    task = load_task("dbpedia_14", data_files="sample:dbpedia_14", train_per_label=30, test_per_label=100)
    assert (len(task["train"]), len(task["test"])) == (420, 1400)
    with pytest.raises(FileNotFoundError, match="no bundled sample 'wikitext3'; use one of sample:wikitext2"):
        resolve_sample("sample:wikitext3")


def test_validation_is_carved_from_training_examples_and_leaves_train_and_test_as_they_were():
    plain = load_task("dbpedia_14", data_files="sample:dbpedia_14", train_per_label=20, test_per_label=50)
    task = load_task("dbpedia_14", data_files="sample:dbpedia_14", train_per_label=20, test_per_label=50,
                     validation_per_label=10)
    assert task["train"]["text"] == plain["train"]["text"] and task["test"]["text"] == plain["test"]["text"]
    assert len(task["validation"]) == 140
    assert not set(task["validation"]["text"]) & (set(task["train"]["text"]) | set(task["test"]["text"]))


def test_finetune_chooses_the_learning_rate_on_validation_and_reports_the_chosen_models_test_accuracy(tmp_path,
                                                                                                     capsys):
    settings = {key: value for key, value in tiny_files(tmp_path).items() if key != "corpus"}
    out = tmp_path / "ft"
    run_script("finetune.py", {**settings, "train_per_label": 4, "validation_per_label": 4, "scratch": True,
                               "num_train_epochs": 2, "per_device_train_batch_size": 4, "output_dir": str(out),
                               "disable_tqdm": True}, "--learning_rates", "1e-4", "3e-3")
    results = json.loads((out / "results.json").read_text())
    search = results["learning_rate_search"]
    assert [c["learning_rate"] for c in search] == [1e-4, 3e-3]
    best = max(search, key=lambda c: c["validation_accuracy"])
    assert results["learning_rate"] == best["learning_rate"] and results["validation_size"] == 8
    assert results["accuracy_final"] == results["accuracy_best"] and 0 <= results["accuracy_final"] <= 1
    chosen = f"learning rate {results['learning_rate']:g}, chosen on validation: {results['validation_accuracy']:.4f}"
    assert f"test accuracy: {results['accuracy_final']:.4f} ({chosen})" in capsys.readouterr().out


# --- recipes and the experiment plan ------------------------------------------------------------------------------


def test_recipe_named_on_the_command_line_sets_the_defaults_and_flags_still_win(tmp_path):
    *_, args = parse_settings(PRETRAIN_SETTINGS, ["--recipe", "fast", "--output_dir", str(tmp_path)],
                              stage="pretraining")
    assert args.learning_rate == RECIPES["fast"].pretraining["learning_rate"]
    assert args.adam_beta2 == 0.98
    settings, *_, args = parse_settings(PRETRAIN_SETTINGS, ["--recipe", "fast", "--learning_rate", "1e-4",
                                                            "--output_dir", str(tmp_path)], stage="pretraining")
    assert args.learning_rate == 1e-4 and settings.mlm_probability == 0.3


def test_a_vocabulary_trained_on_each_w_s_gives_each_row_its_own_scratch_arm(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**tiny_files(tmp_path), "w_s": [16, 32], "seeds": [0, 1],
                                      "pretrain_args": "wordpiece_vocab_size=60", "train_per_label": 6, "validation_per_label": 2,
                                      "learning_rates": [1e-3, 3e-3]}))
    plan = plan_experiment(*parse_settings(EXPERIMENT_SETTINGS, ["--config", str(config), "--output_dir",
                                                                 str(tmp_path / "out")]))
    first, second = plan.rows
    assert {r.run_dir for r in first.scratch}.isdisjoint(r.run_dir for r in second.scratch)
    for row in plan.rows:
        for run in (*row.scratch, *row.finetunes):
            assert run.settings["pretrained"] == str(row.pretraining.run_dir) and "tokenizer" not in run.settings
            assert run.settings["learning_rates"] == [1e-3, 3e-3]
    assert len(plan.runs()) == 2 + 2 * 2 * 2


def test_pretraining_config_turns_sparse_prediction_on_and_config_overrides_can_turn_it_off(tmp_path):
    from tlm_hf.settings import ModelSettings

    tokenizer = make_tokenizer(tmp_path)
    assert ModelSettings(preset="tiny").config(tokenizer).sparse_prediction
    assert not ModelSettings(preset="tiny", config_overrides="sparse_prediction=false").config(tokenizer).sparse_prediction


def test_heldout_metrics_count_every_masked_token_whatever_the_evaluation_batch_size(tmp_path):
    from transformers import Trainer, TrainingArguments

    from tlm_hf import ConvBertForMaskedLM
    from tlm_hf.settings import ModelSettings
    from tlm_hf.training.mlm import pretraining_collator

    tokenizer = make_tokenizer(tmp_path)
    heldout = masked_heldout(Dataset.from_dict({"text": ["the cat sat on the mat . a dog ran ."] * 13}), tokenizer)
    torch.manual_seed(0)
    model = ConvBertForMaskedLM(ModelSettings(preset="bert-1-h24", config_overrides="hidden_size=32,"
                                              "num_attention_heads=2,intermediate_size=64").config(tokenizer)).eval()
    results = []
    for batch_size in (4, 13, 64):  # 13 = 3 x 4 + 1: the last batch holds one example
        args = TrainingArguments(str(tmp_path / str(batch_size)), per_device_eval_batch_size=batch_size,
                                 report_to="none", use_cpu=True)
        trainer = Trainer(model=model, args=args, eval_dataset=heldout, data_collator=pretraining_collator(tokenizer),
                          compute_metrics=heldout_metrics(np.ones(len(tokenizer), dtype=np.int64)),
                          preprocess_logits_for_metrics=per_token_predictions)
        results.append(trainer.evaluate())
    masked = int((np.array(heldout["labels"]) != -100).sum())
    assert [r["eval_masked_tokens"] for r in results] == [masked] * 3
    assert results[0]["eval_mlm_loss"] == pytest.approx(results[2]["eval_mlm_loss"], rel=1e-5)


def test_context_gain_is_read_out_as_a_plain_sentence_with_advice_that_fits_the_recipe():
    from tlm_hf.training.mlm import context_gain_verdict

    assert "still on the unigram plateau" in context_gain_verdict(-0.016)
    assert "train longer, raise the learning rate (--recipe fast), or add text" in context_gain_verdict(0.01)
    assert "raise the learning rate (--recipe fast), or add text" in context_gain_verdict(0.01, recipe="paper")
    assert context_gain_verdict(0.01, recipe="fast").endswith(
        "train longer (--max_steps, --num_train_epochs) or add text")  # never the recipe it already used
    assert context_gain_verdict(0.42).startswith("context gain +0.420: the model uses context")
    assert context_gain_verdict(None) is None


def test_the_heldout_share_of_the_corpus_is_said_in_one_line(caplog):
    import logging

    from datasets import Dataset

    paragraphs = Dataset.from_dict({"text": [f"paragraph {i}" for i in range(1500)]})
    with caplog.at_level(logging.WARNING, logger="tlm_hf.data.corpus"):
        rest, heldout = split_heldout(paragraphs, 500)
    assert (len(rest), len(heldout)) == (1350, 150)
    assert "held out 150 of the corpus's 1,500 paragraphs for the MLM evaluation; 1,350 remain" in caplog.text
