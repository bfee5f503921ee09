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
import sys
from pathlib import Path

from tlm_hf.arguments import parse_settings
from tlm_hf.settings import EXPERIMENT_SETTINGS, SettingsError
from tlm_hf.training.experiments import (
    experiment_table,
    plan_experiment,
    run_planned,
    table_row,
    write_experiment_results,
)

SCRIPTS = Path(__file__).resolve().parent  # pretrain.py and finetune.py

# -- settings and the whole plan, checked before anything runs ----------------------------------------------
try:
    exp, corpus, task, model, tokenizer = parse_settings(EXPERIMENT_SETTINGS, required=("output_dir",))
    plan = plan_experiment(exp, corpus, task, model, tokenizer)
except SettingsError as err:
    sys.exit(f"experiment.py: error: {err}")
launcher = [sys.executable] if exp.launcher == "python" else shlex.split(exp.launcher)

# -- the runs, each once: a row's pre-training first, then its fine-tunes and scratch arms ----------------------
try:
    outcomes = {planned.run_dir: run_planned(planned, scripts=SCRIPTS, launcher=launcher, dry_run=exp.dry_run)
                for planned in plan.runs()}
except SettingsError as err:
    sys.exit(f"experiment.py: error: {err}")
if exp.dry_run:
    sys.exit(0)
rows = [
    table_row(row.subset, outcomes[row.pretraining.run_dir], [outcomes[r.run_dir] for r in row.finetunes],
              [outcomes[r.run_dir] for r in row.scratch])
    for row in plan.rows
]

# -- the table -------------------------------------------------------------------------------------------------
first = outcomes[plan.rows[0].scratch[0].run_dir]
title = (f"{task.task}: {first['train_size']:,} train / {first['test_size']:,} test, {model.preset}"
         f"{' (' + model.config_overrides + ')' if model.config_overrides else ''}, recipe {exp.recipe}, "
         f"{len(exp.seeds)} seeds, "
         + ("learning rate chosen on validation, test accuracy" if exp.learning_rate_grid else "final-epoch test accuracy"))
write_experiment_results(rows, exp.output_dir, title)
print(experiment_table(rows, title))
print(f"wrote {exp.output_dir}/results.json, results.csv, results.md, results.png")
