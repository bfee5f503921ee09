"""One of the paper's tables in one command: pre-train per W_s, fine-tune both arms over seeds, tabulate.

    python train/experiment.py --config train/configs/quick.yaml --output_dir runs/quick
    python train/experiment.py --config train/configs/table5-local.yaml --output_dir runs/t5 --seeds 0 1 2

For each row (one entry of w_s) a model is pre-trained once by train/pretrain.py; every seed then
fine-tunes it (the "pretrained" arm) and a randomly initialised twin (the "scratch" arm, shared by all
rows) with train/finetune.py. Each run lives in its own folder named after a hash of its settings, so
rerunning, extending or resuming an interrupted experiment reuses every finished run. The whole plan is
checked before the first run starts.

Writes to --output_dir: results.json / .csv / .md / .png, and pretrain/<run>/ and finetune/<run>/
(each with settings.yaml, the exact settings the script was run with).
"""

import shlex
import subprocess
import sys
from pathlib import Path

import yaml

from tlm_hf.arguments import parse_settings
from tlm_hf.settings import EXPERIMENT_SETTINGS, SettingsError
from tlm_hf.training.experiments import experiment_table, plan_experiment, table_row, write_experiment_results
from tlm_hf.training.runs import read_json

TRAIN = Path(__file__).resolve().parent


def run(planned, *, launcher: list[str], dry_run: bool) -> dict | None:
    """Start the planned run unless it finished before; return its done file as a dict (None in a dry run)."""
    done = planned.run_dir / planned.done_file
    if done.exists():
        print(f"[cached] {planned.label}: {planned.run_dir}", flush=True)
        return read_json(done)
    print(f"[{'would run' if dry_run else 'run'}] {planned.label}: {planned.run_dir}", flush=True)
    if dry_run:
        return None
    planned.run_dir.mkdir(parents=True, exist_ok=True)
    settings_file = planned.run_dir / "settings.yaml"
    settings_file.write_text(yaml.safe_dump(planned.settings, sort_keys=False))
    command = [*launcher, str(TRAIN / planned.script), "--config", str(settings_file),
               "--output_dir", str(planned.run_dir)]
    if list(planned.run_dir.glob("checkpoints/checkpoint-*")):
        command.append("--resume")  # an interrupted run continues where it stopped
    if subprocess.run(command).returncode != 0:
        sys.exit(f"experiment.py: error: {planned.script} failed for {planned.label}; its settings are in {settings_file}")
    return read_json(done)


# -- settings and the whole plan, checked before anything runs ----------------------------------------------
try:
    exp, corpus, task, model, tokenizer = parse_settings(EXPERIMENT_SETTINGS, required=("output_dir",))
    plan = plan_experiment(exp, corpus, task, model, tokenizer)
except SettingsError as err:
    sys.exit(f"experiment.py: error: {err}")
launcher = [sys.executable] if exp.launcher == "python" else shlex.split(exp.launcher)

# -- the runs: scratch arms first (one per seed, shared by every row), then each row ------------------------
scratch = {seed: run(planned, launcher=launcher, dry_run=exp.dry_run) for seed, planned in plan.scratch.items()}
rows = []
for subset, pretraining, finetunes in plan.rows:
    stats = run(pretraining, launcher=launcher, dry_run=exp.dry_run)
    pretrained = [run(planned, launcher=launcher, dry_run=exp.dry_run) for planned in finetunes]
    if not exp.dry_run:
        rows.append(table_row(subset, stats, pretrained, [scratch[seed] for seed in exp.seeds]))
if exp.dry_run:
    sys.exit(0)

# -- the table -------------------------------------------------------------------------------------------------
first = scratch[exp.seeds[0]]
title = (f"{task.task}: {first['train_size']:,} train / {first['test_size']:,} test, {model.preset}"
         f"{' (' + model.config_overrides + ')' if model.config_overrides else ''}, recipe {exp.recipe}, "
         f"{len(exp.seeds)} seeds, final-epoch test accuracy")
write_experiment_results(rows, exp.output_dir, title)
print(experiment_table(rows, title))
print(f"wrote {exp.output_dir}/results.json, results.csv, results.md, results.png")
