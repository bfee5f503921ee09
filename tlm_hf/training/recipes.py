"""The named training recipes (the paper's, and faster ones), and the precision chosen when a run starts.

A recipe is data: the TrainingArguments and script settings of pre-training and of fine-tuning. The
scripts start from the recipe named by `--recipe` (default `paper`), then apply the YAML file, then the
command line. Settings that change only how a run is executed (checkpoints, logging, precision) are
not part of a recipe: they are added by `recipe_defaults`, precision from the hardware of that moment.
"""

from dataclasses import dataclass

import torch

from ..errors import SettingsError


@dataclass(frozen=True)
class Recipe:
    """One way to pre-train and fine-tune; `pretraining` / `finetuning` hold settings of those scripts."""

    name: str
    description: str
    pretraining: dict
    finetuning: dict


PAPER = Recipe(
    name="paper",
    description="the paper's appendix: AdamW, batch 32, 50 epochs, linear decay to zero without warm-up, "
    "15% masking; pre-training lr 5.5e-5, fine-tuning lr 5e-5 (changed per table), weight decay 1e-2",
    pretraining=dict(
        num_train_epochs=50, per_device_train_batch_size=32, learning_rate=5.5e-5, weight_decay=1e-2,
        lr_scheduler_type="linear", warmup_steps=0, mlm_probability=0.15,
    ),
    finetuning=dict(
        num_train_epochs=50, per_device_train_batch_size=32, learning_rate=5e-5, weight_decay=1e-2,
        lr_scheduler_type="linear", warmup_steps=0,
    ),
)

FAST = Recipe(
    name="fast",
    description="what clears the MLM plateau soonest at small scale (see the recipe study in docs/experiments.md): a "
    "WordPiece vocabulary of 4,096 trained on W_s, peak lr 2e-3 with 10% warm-up then linear decay to zero, "
    "AdamW beta2 0.98, 30% masking, no dropout while pre-training; fine-tuning lr 1e-3 with 10% warm-up",
    pretraining=dict(
        num_train_epochs=24, per_device_train_batch_size=32, learning_rate=2e-3, weight_decay=1e-2,
        lr_scheduler_type="linear", warmup_steps=0.1, adam_beta2=0.98, adam_epsilon=1e-6, mlm_probability=0.3,
        pretraining_dropout=0.0, wordpiece_vocab_size=4096,
    ),
    finetuning=dict(
        num_train_epochs=10, per_device_train_batch_size=32, learning_rate=1e-3, weight_decay=1e-2,
        lr_scheduler_type="linear", warmup_steps=0.1,
    ),
)

RECIPES = {recipe.name: recipe for recipe in (PAPER, FAST)}

# What every recipe runs with: a checkpoint and a held-out evaluation per pre-training epoch (the last two
# checkpoints kept, for --resume); test accuracy after every fine-tuning epoch. Checkpoints, logging and evaluation
# batches are execution-only (run_definition.EXECUTION_ONLY); the evaluation schedule is part of a run: it decides
# which evaluations its results hold.
_SHARED_DEFAULTS = dict(
    pretraining=dict(logging_strategy="epoch", save_strategy="epoch", save_total_limit=2, eval_strategy="epoch",
                     per_device_eval_batch_size=64),
    finetuning=dict(per_device_eval_batch_size=128, eval_strategy="epoch", logging_strategy="epoch", save_strategy="no"),
)


def get_recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise SettingsError(f"unknown recipe {name!r}; use one of {', '.join(RECIPES)}")
    return RECIPES[name]


def bf16_available() -> bool:
    """bf16 autocast where the hardware runs it natively: recent GPUs, and CPUs with bf16 instructions
    (avx512_bf16: Intel from Cooper Lake, with AMX tiles from Sapphire Rapids; AMD from Zen 4). With AMX, BERT-6
    trains about 1.5x faster than in fp32; on a Zen 4 the quick matrix's model trains 1.27x faster (a 1024 x 1024
    matmul 2.6x). fp32 elsewhere."""
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    return torch.cpu._is_avx512_bf16_supported()


def precision_args() -> dict:
    """TrainingArguments for bf16 where available (Trainer accepts bf16 on a CPU only with use_cpu)."""
    if not bf16_available():
        return {}
    return {"bf16": True} if torch.cuda.is_available() else {"bf16": True, "use_cpu": True}


def recipe_defaults(name: str, stage: str) -> dict:
    """Defaults of a run of `stage` ("pretraining" or "finetuning"): the recipe, execution and precision."""
    recipe = get_recipe(name)
    return {
        **getattr(recipe, stage), **_SHARED_DEFAULTS[stage], **precision_args(),
        "dataloader_pin_memory": torch.cuda.is_available(),
    }


def pretrained_recipe(folder) -> str | None:
    """The recipe a folder written by tlm pretrain was pre-trained with (its run_config.json), so that
    fine-tuning from it defaults to the same recipe; None for a folder that did not record one."""
    from pathlib import Path

    from ..fileio import read_json

    path = Path(folder) / "run_config.json" if folder else None
    if path is None or not path.is_file():
        return None
    try:
        return read_json(path).get("settings", {}).get("recipe")
    except (ValueError, UnicodeDecodeError, AttributeError):
        return None  # the fine-tune itself reports an unreadable folder
