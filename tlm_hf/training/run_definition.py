"""What defines a run: one list of the settings that only change how a run executes; every other setting is recorded
in its run_config.json, compared when its folder is claimed again, hashed into its cache key and shown on its card.

A setting that an older run_config.json lacks counts as what that run used by default (its recipe's value, else
the field's default), so adding a setting never turns a finished or interrupted run into "a different run".
"""

import dataclasses
import hashlib
import json

from transformers import TrainingArguments

from ..errors import SettingsError
from ..settings import COMMITTEE_SETTINGS, FINETUNE_SETTINGS, PRETRAIN_SETTINGS, PretrainSettings
from .recipes import get_recipe, recipe_defaults

# Settings of the scripts and experiments, and TrainingArguments fields, that change how a run is executed (where
# it writes, how it logs, checkpoints and publishes, on which device and how fast), never what it computes or
# reports. The evaluation schedule is not among them: it decides which evaluations a run's results hold.
EXECUTION_ONLY = frozenset({
    # where and how runs are started
    "output_dir", "resume", "resume_from_checkpoint", "num_proc", "launcher", "jobs", "dry_run", "do_train", "do_eval",
    "do_predict", "local_rank", "use_cpu", "debug", "ray_address", "slurm_partition", "slurm_time", "gpus_per_run",
    # logging and progress
    "disable_tqdm", "report_to", "run_name", "project", "trackio_space_id", "trackio_bucket_id",
    "trackio_static_space_id", "log_level", "log_level_replica", "log_on_each_node", "logging_strategy",
    "logging_steps", "logging_first_step", "logging_nan_inf_filter", "include_num_input_tokens_seen",
    "skip_memory_metrics",
    # checkpoints and the Hub
    "save_strategy", "save_steps", "save_total_limit", "save_only_model", "save_on_each_node", "enable_jit_checkpoint",
    "restore_callback_states_from_checkpoint", "push_to_hub", "hub_model_id", "hub_token", "hub_private_repo",
    "hub_revision", "hub_strategy", "hub_always_push",
    # speed and memory: the same computation, scheduled differently
    "per_device_eval_batch_size", "eval_accumulation_steps", "eval_do_concat_batches", "eval_use_gather_object",
    "batch_eval_metrics", "prediction_loss_only", "include_for_metrics", "gradient_checkpointing",
    "gradient_checkpointing_kwargs", "activation_checkpointing", "activation_checkpointing_kwargs", "torch_compile",
    "torch_compile_backend", "torch_compile_mode", "use_liger_kernel", "liger_kernel_config", "use_cache",
    "torch_empty_cache_steps", "length_column_name",
    # data loading and distribution
    "dataloader_num_workers", "dataloader_pin_memory", "dataloader_persistent_workers", "dataloader_prefetch_factor",
    "dataloader_multiprocessing_context", "accelerator_config", "parallelism_config", "ddp_find_unused_parameters",
    "ddp_bucket_cap_mb", "ddp_broadcast_buffers", "ddp_static_graph", "ddp_backend", "ddp_timeout", "fsdp",
    "fsdp_config", "deepspeed",
})

# Settings added after runs were first cached: they enter a cache key only when set, so a run that leaves one unset
# keeps the key it had before the setting existed.
KEYED_WHEN_SET = frozenset({"attn_implementation", "unpad_tokens", "fast_dropout"})


def run_stage(settings) -> str:
    """'pretraining' for the pre-training's settings, else 'finetuning' (fine-tuning and committee runs)."""
    return "pretraining" if any(isinstance(part, PretrainSettings) for part in settings) else "finetuning"


def run_config(settings, training_args) -> dict:
    """The run_config.json of a run: its stage, every setting of its script and every TrainingArguments field that
    is not EXECUTION_ONLY, and `world_size` (the number of processes, which sets the global batch)."""
    merged = {}
    for part in settings:
        merged.update(dataclasses.asdict(part))
    training = {field.name: getattr(training_args, field.name) for field in dataclasses.fields(training_args)}
    training["world_size"] = training_args.world_size
    config = {
        "stage": run_stage(settings),
        "settings": {key: value for key, value in merged.items() if key not in EXECUTION_ONLY},
        "training": {key: value for key, value in training.items() if key not in EXECUTION_ONLY},
    }
    return json.loads(json.dumps(config, default=str))


def _field_default(field):
    if field.default is not dataclasses.MISSING:
        return field.default
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return None


def setting_defaults(stage: str, recipe: str | None) -> dict:
    """What a run of `stage` under `recipe` used for a setting it did not record: the recipe's value (with the
    execution defaults every recipe shares), else the field's default."""
    types = PRETRAIN_SETTINGS if stage == "pretraining" else (*FINETUNE_SETTINGS, *COMMITTEE_SETTINGS)
    defaults = {field.name: _field_default(field) for kind in types for field in dataclasses.fields(kind)}
    try:
        defaults.update(recipe_defaults(recipe or "paper", stage))
    except SettingsError:  # a recipe this version no longer has: the fields' defaults alone
        pass
    return json.loads(json.dumps(defaults, default=str))


def first_difference(recorded: dict, config: dict) -> tuple[str, object, object] | None:
    """The first setting of `config` (a run_config) that `recorded` (the folder's run_config.json) holds with another
    value, as (name, recorded value, value now); None when they define the same run. A setting `recorded` lacks
    counts as its default (`setting_defaults`); one it holds that `config` lacks (execution-only now, or a setting
    this version no longer has) is not compared."""
    recorded_settings = recorded.get("settings", {})
    defaults = setting_defaults(config.get("stage", "finetuning"), recorded_settings.get("recipe"))
    for section in ("settings", "training"):
        before_section = recorded.get(section, {})
        for key in sorted(config[section]):
            before = before_section.get(key, defaults.get(key))
            if before != config[section][key]:
                return key, before, config[section][key]
    return None


def run_key(settings: dict) -> str:
    """A short hash of a run's settings: equal settings, equal key, so a finished run is found again."""
    canonical = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def cache_key(stage: str, settings: dict) -> str:
    """The key of an experiment's child run: its settings over its recipe's values, less the EXECUTION_ONLY ones
    and the KEYED_WHEN_SET ones left unset."""
    resolved = {**getattr(get_recipe(settings.get("recipe", "paper")), stage), **settings}
    return run_key({key: value for key, value in resolved.items()
                    if key not in EXECUTION_ONLY and not (key in KEYED_WHEN_SET and value is None)})


def hyperparameters(config: dict | None) -> dict:
    """What a model card lists from a run_config.json: the recipe, every recorded number that is set (not None, 0,
    -1 or False) and the training's named choices (optimizer, schedule, evaluation). Older folders recorded some
    execution-only settings: those are left out."""
    config = config or {}
    shown = {}
    for section in ("settings", "training"):
        for key, value in (config.get(section) or {}).items():
            if key in EXECUTION_ONLY or isinstance(value, (dict, list)) or value in (None, False, -1):
                continue
            if key == "recipe" or isinstance(value, (int, float)) or (section == "training" and isinstance(value, str)):
                shown[key] = value
    return shown
