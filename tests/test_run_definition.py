"""One definition of a run: run_config.json records every setting that is not execution-only, the different-run
check and the cache key use the same list, and a folder written before a setting was recorded is still the same run."""

import json
from pathlib import Path

import pytest
import yaml
from training_helpers import tiny_files

from tlm_hf.arguments import parse_settings
from tlm_hf.errors import SettingsError
from tlm_hf.settings import EXPERIMENT_SETTINGS, PRETRAIN_SETTINGS
from tlm_hf.training.experiments import plan_experiment
from tlm_hf.training.run_definition import EXECUTION_ONLY, cache_key, hyperparameters, run_config
from tlm_hf.training.runs import claim_run_dir

# What run_config.json held before it recorded every TrainingArguments field (tlm-hf 0.2 and earlier).
OLD_TRAINING_FIELDS = (
    "learning_rate", "weight_decay", "num_train_epochs", "max_steps", "per_device_train_batch_size",
    "gradient_accumulation_steps", "lr_scheduler_type", "warmup_steps", "seed", "optim", "bf16", "fp16",
)
# The cache key's execution-only settings before there was one list.
OLD_EXECUTION_ONLY = {
    "output_dir", "resume", "num_proc", "launcher", "dry_run", "disable_tqdm", "report_to", "log_level",
    "logging_strategy", "logging_steps", "logging_first_step", "save_strategy", "save_steps", "save_total_limit",
    "dataloader_num_workers", "dataloader_pin_memory", "dataloader_persistent_workers", "dataloader_prefetch_factor",
    "per_device_eval_batch_size", "push_to_hub", "hub_model_id", "hub_token", "hub_private_repo", "hub_revision",
}


def pretraining_config(tmp_path, *flags):
    parts = parse_settings(PRETRAIN_SETTINGS, ["--output_dir", str(tmp_path / "run"), *flags], stage="pretraining")
    return run_config(parts[:-1], parts[-1])


def written_before_this_change(config: dict) -> dict:
    """The run_config.json an older tlm-hf wrote for the same run: a few TrainingArguments, every script setting
    (num_proc included), no stage."""
    training = {key: config["training"][key] for key in (*OLD_TRAINING_FIELDS, "world_size")}
    return {"settings": {**config["settings"], "num_proc": 4}, "training": training}


def used_run_dir(tmp_path, recorded: dict):
    """A run folder that saved a checkpoint under `recorded` (an interrupted run)."""
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints" / "checkpoint-10").mkdir(parents=True)
    (run_dir / "run_config.json").write_text(json.dumps(recorded))
    return run_dir


def test_fast_recipe_pretraining_records_adam_beta2_and_adam_epsilon(tmp_path):
    config = pretraining_config(tmp_path, "--recipe", "fast")
    assert config["stage"] == "pretraining"
    assert (config["training"]["adam_beta2"], config["training"]["adam_epsilon"]) == (0.98, 1e-6)
    assert not EXECUTION_ONLY & (set(config["settings"]) | set(config["training"]))


@pytest.mark.parametrize("flag, value", [("--adam_beta2", "0.99"), ("--adam_epsilon", "1e-8")])
def test_changing_an_optimizer_setting_refuses_the_folder_as_another_run(tmp_path, flag, value):
    run_dir = used_run_dir(tmp_path, pretraining_config(tmp_path, "--recipe", "fast"))
    changed = pretraining_config(tmp_path, "--recipe", "fast", flag, value)
    with pytest.raises(SettingsError, match=rf"already holds a different run \({flag[2:]} was "):
        claim_run_dir(run_dir, changed, main_process=False)


@pytest.mark.parametrize("recipe", ["paper", "fast"])
def test_folder_written_before_every_setting_was_recorded_is_the_same_run_with_the_same_settings(tmp_path, recipe):
    config = pretraining_config(tmp_path, "--recipe", recipe)
    run_dir = used_run_dir(tmp_path, written_before_this_change(config))
    claim_run_dir(run_dir, config, main_process=True)  # its recipe's adam_beta2 (0.98 under fast) is what it used
    assert json.loads((run_dir / "run_config.json").read_text()) == config


def test_a_setting_an_older_folder_lacks_counts_as_its_recipes_value(tmp_path):
    old = written_before_this_change(pretraining_config(tmp_path, "--recipe", "fast"))
    run_dir = used_run_dir(tmp_path, old)
    with pytest.raises(SettingsError, match=r"adam_beta2 was 0\.98, now 0\.999"):
        claim_run_dir(run_dir, pretraining_config(tmp_path, "--recipe", "fast", "--adam_beta2", "0.999"), main_process=False)


def test_execution_only_settings_may_change_between_claims(tmp_path):
    run_dir = used_run_dir(tmp_path, pretraining_config(tmp_path))
    claim_run_dir(run_dir, pretraining_config(tmp_path, "--num_proc", "2", "--logging_steps", "7",
                                              "--per_device_eval_batch_size", "3", "--save_total_limit", "5"),
                  main_process=False)


def test_cache_keys_of_existing_plans_are_unchanged():
    # A child run's settings as an experiment plans them; its key was 99784482f6 before there was one list.
    settings = {"recipe": "fast", "task": "dbpedia_14", "seed": 0, "max_length": 128, "num_proc": 2,
                "eval_strategy": "steps", "eval_steps": 500, "max_steps": 3000, "logging_steps": 100}
    assert cache_key("pretraining", settings) == "99784482f6"
    assert OLD_EXECUTION_ONLY <= EXECUTION_ONLY
    assert cache_key("pretraining", {**settings, "per_device_eval_batch_size": 7, "dataloader_num_workers": 3}) == \
        "99784482f6"


def test_model_card_lists_what_run_config_records_and_no_execution_setting(tmp_path):
    config = pretraining_config(tmp_path, "--recipe", "fast", "--num_proc", "2")
    shown = hyperparameters(config)
    assert shown["recipe"] == "fast" and shown["adam_beta2"] == 0.98 and shown["learning_rate"] == 2e-3
    assert shown["mlm_probability"] == 0.3
    assert not EXECUTION_ONLY & set(shown)
    assert "num_proc" not in hyperparameters(written_before_this_change(config))


def test_attention_set_for_an_experiment_reaches_every_run_and_unset_leaves_every_key_as_it_was(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text(yaml.safe_dump({**tiny_files(tmp_path), "w_s": [16], "seeds": [0], "recipe": "fast"}))

    def plan(*flags):
        return plan_experiment(*parse_settings(EXPERIMENT_SETTINGS, ["--config", str(config), "--output_dir",
                                                                     str(tmp_path / "out"), *flags]))

    unset, eager = plan().runs(), plan("--attn_implementation", "eager").runs()
    assert all(run.settings["attn_implementation"] == "eager" for run in eager)
    assert all(run.settings.get("attn_implementation") is None for run in unset)
    # a setting added after runs were cached: unset, it leaves the key the run had before it existed
    for run in unset:
        stage = run.stage
        before = {key: value for key, value in run.settings.items() if key != "attn_implementation"}
        if before.get("pretrained"):  # a fine-tune is keyed by its pre-training's folder name, not its path
            before["pretrained"] = Path(before["pretrained"]).name
        assert run.run_dir.name.endswith(cache_key(stage, before))
    assert {run.run_dir for run in unset}.isdisjoint(run.run_dir for run in eager)
    with pytest.raises(SettingsError, match="attn_implementation 'flash' is not one this model offers"):
        plan("--finetune_args", "attn_implementation=flash")
