"""Bad inputs are refused before a run claims its folder, in one line naming the setting, value and fix;
nothing is silently read another way (ranges, `none`, misspelled keys, file permissions)."""

import json
import os

import pytest
from training_helpers import run_script, tiny_files

from tlm_hf.arguments import parse_settings
from tlm_hf.errors import SettingsError
from tlm_hf.settings import (
    FINETUNE_SETTINGS,
    PRETRAIN_SETTINGS,
    RANGES,
    CorpusSettings,
    ExperimentSettings,
    ModelSettings,
    TaskSettings,
    TokenizerSettings,
    parse_key_values,
)
from tlm_hf.training.experiments import plan_experiment
from tlm_hf.training.runs import claim_run_dir, write_json


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_results_files_get_the_permissions_of_the_umask(tmp_path, umask, mode):
    old = os.umask(umask)
    try:
        write_json(tmp_path / "results.json", {"accuracy": 0.5})
    finally:
        os.umask(old)
    assert (tmp_path / "results.json").stat().st_mode & 0o777 == mode


def test_key_value_none_is_the_word_and_null_is_no_value():
    values = parse_key_values("report_to=none,classifier_dropout=null,seed=3", setting="pretrain_args", typed=True)
    assert values == {"report_to": "none", "classifier_dropout": None, "seed": 3}


# --- ranges: every numeric setting, in one line naming the setting, the value and the range ----------------------


def parsed(types, *flags, stage=None):
    return parse_settings(types, [*flags, "--output_dir", "unused"], stage=stage)


@pytest.mark.parametrize("flags, message", [
    (["--mlm_probability", "0"], r"mlm_probability 0.0 is out of range; it must be in \(0, 1\]"),
    (["--pretraining_dropout", "1.5"], r"pretraining_dropout 1.5 is out of range; it must be in \[0, 1\)"),
    (["--learning_rate", "-1e-3"], "learning_rate -0.001 is out of range; it must be > 0"),
    (["--max_steps", "0"], "max_steps 0 is out of range; it must be >= 1 or -1"),
    (["--w_s", "0"], "w_s 0 is out of range; it must be >= 1"),
    (["--heldout_size", "-1"], "heldout_size -1 is out of range; it must be >= 0"),
    (["--per_device_train_batch_size", "0"], "per_device_train_batch_size 0 is out of range; it must be >= 1"),
])
def test_pretraining_settings_out_of_range_are_refused_when_parsed(flags, message):
    with pytest.raises(SettingsError, match=message):
        parsed(PRETRAIN_SETTINGS, *flags, stage="pretraining")


def test_a_negative_learning_rate_with_an_exponent_is_read_as_a_number_then_refused():
    with pytest.raises(SettingsError, match=r"^learning_rates -0.001 is out of range; it must be > 0$"):
        parsed(FINETUNE_SETTINGS, "--learning_rates", "1e-3", "-1e-3", "--validation_per_label", "5",
               stage="finetuning")


def test_choosing_learning_rates_without_a_validation_split_is_refused_when_parsed():
    with pytest.raises(SettingsError, match="choosing among learning_rates needs a validation split; set validation"):
        parsed(FINETUNE_SETTINGS, "--learning_rates", "1e-3", "3e-3", stage="finetuning")
    settings, task, *_ = parsed(FINETUNE_SETTINGS, "--learning_rates", "1e-3", "3e-3", "--validation_per_label", "5",
                                stage="finetuning")
    assert settings.learning_rates == [1e-3, 3e-3] and task.validation_per_label == 5


def test_an_experiment_s_learning_rates_without_a_validation_split_is_refused_by_the_same_rule():
    from tlm_hf.settings import EXPERIMENT_SETTINGS
    from tlm_hf.training.experiments import plan_experiment

    with pytest.raises(SettingsError, match="choosing among learning_rates needs a validation split; set valid"):
        parsed(EXPERIMENT_SETTINGS, "--learning_rates", "1e-3", "3e-3", "--task", "ag_news")
    exp, corpus, task, model, tokenizer = parsed(EXPERIMENT_SETTINGS, "--task", "ag_news")
    exp.learning_rates = [1e-3, 3e-3]  # set from Python, after parsing: the plan checks it too
    with pytest.raises(SettingsError, match="choosing among learning_rates needs a validation split"):
        plan_experiment(exp, corpus, task, model, tokenizer)


def test_the_old_name_learning_rate_grid_is_read_as_learning_rates_with_one_deprecation_line(tmp_path, caplog):
    import logging

    from tlm_hf import arguments
    from tlm_hf.settings import EXPERIMENT_SETTINGS

    config = tmp_path / "old.yaml"
    config.write_text("task: ag_news\nvalidation_per_label: 5\nlearning_rate_grid: [1e-3, 3e-3]\n")
    arguments._TOLD_RENAMED.clear()
    with caplog.at_level(logging.WARNING, logger="tlm_hf.arguments"):
        from_file = parsed(EXPERIMENT_SETTINGS, "--config", str(config))[0]
        from_line = parsed(EXPERIMENT_SETTINGS, "--task", "ag_news", "--validation_per_label", "5",
                           "--learning_rate_grid", "1e-3", "3e-3")[0]
    assert from_file.learning_rates == from_line.learning_rates == [1e-3, 3e-3]
    told = [r.getMessage() for r in caplog.records if "learning_rate_grid" in r.getMessage()]
    assert len(told) == 1 and "learning_rate_grid is now called learning_rates" in told[0]
    config.write_text("task: ag_news\nvalidation_per_label: 5\nlearning_rate_grid: [1e-3]\nlearning_rates: [3e-3]\n")
    with pytest.raises(SettingsError, match="both learning_rate_grid and learning_rates are set; keep learning_rates"):
        parsed(EXPERIMENT_SETTINGS, "--config", str(config))


def test_the_claims_old_name_deep_learning_rate_grid_still_sets_the_deep_model_s_rates(tmp_path):
    from tlm_hf.arguments import read_yaml, renamed_args
    from tlm_hf.training.claims.reproduce import claims_parser

    config = tmp_path / "claims.yaml"
    config.write_text("task: ag_news\nclaims:\n  deep_learning_rate_grid: [0.0003]\n")
    assert read_yaml(config)["claims"] == {"deep_learning_rates": [3e-4]}
    options, _ = claims_parser().parse_known_args(renamed_args(
        ["--config", str(config), "--output_dir", "x", "--deep_learning_rate_grid", "1e-4", "1e-3"]))
    assert options.deep_learning_rates == [1e-4, 1e-3]


def test_claims_options_written_with_an_exponent_in_yaml_are_numbers_as_on_the_command_line(tmp_path):
    from tlm_hf.training.claims.reproduce import DEFAULT_CONFIG, setup

    config = tmp_path / "claims.yaml"  # YAML 1.1 reads 3e-4 (no dot) as text
    config.write_text(DEFAULT_CONFIG.read_text())
    options = setup(["--config", str(config), "--output_dir", str(tmp_path / "out"), "--latency_only"]).options
    assert options.deep_learning_rates == [3e-4, 1e-3]


def test_finetune_script_refuses_learning_rates_without_validation_before_loading_anything(tmp_path):
    with pytest.raises(SystemExit, match="^finetune.py: error: choosing among learning_rates needs a validation"):
        run_script("finetune.py", {"pretrained": str(tmp_path / "missing"), "task": "tiny",
                                   "learning_rates": [1e-3, 3e-3], "output_dir": str(tmp_path / "out")})
    assert not (tmp_path / "out").exists()


def test_a_yaml_value_out_of_range_is_refused_naming_the_file(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("learning_rate: -5e-5\n")  # YAML reads it as text
    with pytest.raises(SettingsError, match=r"c.yaml: learning_rate -5e-5 is out of range; it must be > 0"):
        parse_settings(FINETUNE_SETTINGS, ["--config", str(config), "--output_dir", "unused"], stage="finetuning")


def test_every_range_checked_setting_is_a_setting_of_some_script():
    from tlm_hf.settings import COMMITTEE_SETTINGS, EXPERIMENT_SETTINGS, STATS_SETTINGS, SUBSET_SETTINGS, field_names

    known = field_names((*PRETRAIN_SETTINGS, *FINETUNE_SETTINGS, *COMMITTEE_SETTINGS, *EXPERIMENT_SETTINGS,
                         *STATS_SETTINGS, *SUBSET_SETTINGS))
    assert set(RANGES) <= known, set(RANGES) - known


def plan(**experiment):
    exp = ExperimentSettings(**{"output_dir": "runs/x", "w_s": ["100"], "seeds": [0], **experiment})
    return plan_experiment(exp, CorpusSettings(), TaskSettings(task="ag_news"), ModelSettings(), TokenizerSettings())


@pytest.mark.parametrize("experiment, message", [
    (dict(learning_rates=[1e-3, -1e-3]), "learning_rates -0.001 is out of range; it must be > 0"),
    (dict(seeds=[0, -1]), "seeds -1 is out of range; it must be >= 0"),
    (dict(w_s=["0"]), "w_s 0 is out of range"),
    (dict(pretrain_args="mlm_probability=0"), r"pre-training .*: mlm_probability 0 is out of range"),
    (dict(pretrain_args="pretraining_dropout=1.5"), r"pretraining_dropout 1.5 is out of range; it must be in \[0, 1\)"),
    (dict(finetune_args="learning_rate=-1e-3"), "learning_rate -0.001 is out of range"),
    (dict(pretrain_args="wordpiece_vocab_size=none"), "wordpiece_vocab_size 'none' is not a number"),
    (dict(finetune_args="learning_rates=1e-3"), "choosing among learning_rates needs a validation split"),
])
def test_experiment_plan_refuses_a_value_out_of_range_before_the_first_run(experiment, message):
    with pytest.raises(SettingsError, match=message):
        plan(**experiment)


def test_experiment_passes_report_to_none_as_the_word():
    (pretraining,) = [run for run in plan(pretrain_args="report_to=none").runs() if run.stage == "pretraining"]
    assert pretraining.settings["report_to"] == "none"


# --- a refused run leaves its folder free for the corrected command ----------------------------------------------


def test_a_claim_no_run_used_is_taken_over_by_a_different_run(tmp_path):
    first = {"settings": {"corpus": "corpus.tx"}, "training": {"learning_rate": 5e-5}}
    corrected = {**first, "settings": {"corpus": "corpus.txt"}}
    claim_run_dir(tmp_path, first, main_process=True)  # then refused before saving anything
    claim_run_dir(tmp_path, corrected, main_process=True)
    assert json.loads((tmp_path / "run_config.json").read_text()) == corrected


@pytest.mark.parametrize("saved", ["checkpoints/checkpoint-1", "model.safetensors", "pretraining_stats.json"])
def test_a_folder_a_run_saved_into_is_not_taken_over(tmp_path, saved):
    first = {"settings": {"w_s": 2000}, "training": {}}
    claim_run_dir(tmp_path, first, main_process=True)
    (tmp_path / saved).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / saved).mkdir() if saved.startswith("checkpoints") else (tmp_path / saved).write_text("{}")
    with pytest.raises(SettingsError, match=r"already holds a different run \(w_s was 2000, now 5000\)"):
        claim_run_dir(tmp_path, {**first, "settings": {"w_s": 5000}}, main_process=True)


def _empty_vocab_tokenizer(folder):
    folder.mkdir()
    (folder / "vocab.txt").write_text("")
    return str(folder)


@pytest.mark.parametrize("mistake, message", [
    (lambda tiny, tmp: {"corpus": tiny["corpus"][:-1]}, "corpus"),  # corpus.jsonl -> corpus.jsonl misspelled
    (lambda tiny, tmp: {"w_s": 1000}, "1000"),  # more paragraphs than the corpus has
    (lambda tiny, tmp: {"tokenizer": _empty_vocab_tokenizer(tmp / "bad-tokenizer")}, "tokenizer|vocab"),
])
def test_a_refused_pretraining_leaves_its_folder_and_the_corrected_command_runs(tmp_path, mistake, message):
    tiny = tiny_files(tmp_path)
    out = tmp_path / "run"
    settings = {**tiny, "w_s": 32, "per_device_train_batch_size": 16, "max_steps": 1, "heldout_size": 0,
                "save_strategy": "no", "disable_tqdm": True, "output_dir": str(out)}
    with pytest.raises(SystemExit, match=f"^pretrain.py: error: .*({message})"):
        run_script("pretrain.py", {**settings, **mistake(tiny, tmp_path)})
    assert not (out / "run_config.json").exists()  # left as it was found: nothing claimed
    run_script("pretrain.py", settings)
    assert json.loads((out / "pretraining_stats.json").read_text())["W_s"] == 32


# --- WordPiece: at most vocab_size tokens, or a one-line refusal ------------------------------------------------


def test_a_wordpiece_vocabulary_smaller_than_the_alphabet_is_refused_naming_the_smallest():
    from tlm_hf.data.tokenizer import train_wordpiece

    texts = ["the quick brown fox jumps over the lazy dog"] * 4
    with pytest.raises(SettingsError, match=r"^wordpiece_vocab_size 10 is below .*: (\d+) tokens .*give at least \1"):
        train_wordpiece(texts, 10)
    smallest = int(str(pytest.raises(SettingsError, train_wordpiece, texts, 10).value).split("give at least ")[1].split(",")[0])
    assert len(train_wordpiece(texts, smallest)) <= smallest
    assert len(train_wordpiece(texts, smallest + 20)) <= smallest + 20


def test_a_config_field_misspelled_in_python_is_warned_naming_the_field():
    from transformers.testing_utils import CaptureLogger

    from tlm_hf import ConvBertConfig
    from tlm_hf.models import configuration_conv_bert

    with CaptureLogger(configuration_conv_bert.logger) as captured:
        config = ConvBertConfig(hiden_dropout_prob=0.5)
    assert config.hidden_dropout_prob == 0.1  # transformers' configs keep unknown keys: not refused, but said
    assert "'hiden_dropout_prob', which is not a field; did you mean 'hidden_dropout_prob'? " in captured.out
    with CaptureLogger(configuration_conv_bert.logger) as captured:
        ConvBertConfig(hidden_dropout_prob=0.5, problem_type="single_label_classification")
    assert captured.out == ""


# --- tlm convert-reference: broken or mismatched weights in one line -----------------------------------------------


def _truncate(path):
    path.write_bytes(path.read_bytes()[:300])


@pytest.mark.parametrize("breakage, message", [
    (lambda ref: _truncate(ref / "model.safetensors"), "model.safetensors is not readable"),
    (lambda ref: (ref / "model.safetensors").write_bytes(b"\xff" * 64), "model.safetensors is not readable"),
    (lambda ref: ((ref / "model.safetensors").unlink(), _truncate(ref / "pytorch_model.bin")),
     "pytorch_model.bin is not readable"),
    (lambda ref: (ref / "config.json").write_text((ref / "config.json").read_text().replace(  # another model's
        '"hidden_size": 32', '"hidden_size": 64')), "does not match its config.json: size mismatch"),
])
def test_convert_reference_reports_broken_or_mismatched_weights_in_one_line(tmp_path, capsys, breakage, message):
    import torch
    from test_modeling_conv_bert import build_reference

    from tlm_hf.cli import main as tlm_main

    reference = build_reference(2)
    reference.save_pretrained(tmp_path / "ref")
    torch.save(reference.state_dict(), tmp_path / "ref" / "pytorch_model.bin")
    breakage(tmp_path / "ref")
    capsys.readouterr()  # save_pretrained's progress bar
    assert tlm_main(["convert-reference", str(tmp_path / "ref"), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1, err


# --- misleading messages: each names the real problem --------------------------------------------------------


def test_a_missing_or_empty_pretrained_folder_is_named_as_such_not_as_a_tokenizer(tmp_path):
    from training_helpers import run_script, tiny_files

    settings = {**tiny_files(tmp_path), "output_dir": str(tmp_path / "ft")}
    del settings["tokenizer"], settings["preset"], settings["corpus"]
    with pytest.raises(SystemExit, match=r"--pretrained .*missing is not a folder"):
        run_script("finetune.py", {**settings, "pretrained": str(tmp_path / "missing")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match=r"--pretrained .*empty has no config.json"):
        run_script("finetune.py", {**settings, "pretrained": str(tmp_path / "empty")})


def test_a_corpus_path_that_is_a_folder_says_so(tmp_path):
    from tlm_hf.data.files import expand_files
    from tlm_hf.errors import UserError

    with pytest.raises(UserError, match=r"is a folder; give a file in it, or a glob such as .*\*\.jsonl"):
        expand_files(str(tmp_path))


def test_a_csv_with_only_its_header_says_it_has_no_rows(tmp_path):
    from tlm_hf.data.files import load_files
    from tlm_hf.errors import UserError

    (tmp_path / "labels.csv").write_text("text,label\n")
    with pytest.raises(UserError, match=r"labels.csv has a header line \(text,label\) but no rows below it"):
        load_files(str(tmp_path / "labels.csv"))
