"""One of the paper's tables in one command: pre-train per W_s, fine-tune both arms over seeds, tabulate.

    python train/experiment.py --config train/configs/quick.yaml --output_dir runs/quick --jobs 2
    python train/experiment.py --config train/configs/table5-local.yaml --output_dir runs/t5 --seeds 0 1 2

For each row (one entry of w_s) a model is pre-trained once by train/pretrain.py; every seed then
fine-tunes it (the "pretrained" arm) and a randomly initialised twin (the "scratch" arm, shared by all
rows) with train/finetune.py. Each run lives in its own folder named after a hash of its settings, so
rerunning, extending or resuming an interrupted experiment reuses every finished run. The whole plan is
checked before the first run starts. --jobs N runs N independent runs at once in long-lived worker processes
(each run with --threads_per_run CPU threads, default 1, so that N changes no number).

Writes to --output_dir: results.json / .csv / .md / .png, and pretrain/<run>/ and finetune/<run>/
(each with settings.yaml, the exact settings the script was run with, and log.txt, what it printed).
"""

import shlex
import sys
from pathlib import Path

from tlm_hf.arguments import parse_settings
from tlm_hf.errors import UserError
from tlm_hf.settings import EXPERIMENT_SETTINGS
from tlm_hf.training.experiments import experiment_table, plan_experiment, table_row, write_experiment_results
from tlm_hf.training.launch import run_plan

SCRIPTS = Path(__file__).resolve().parent  # pretrain.py and finetune.py


def main(argv=None):
    """The experiment, from the command line (or `argv`); a user's mistake ends it with one line naming the fix."""
    # -- settings and the whole plan, checked before anything runs ----------------------------------------------
    try:
        exp, corpus, task, model, tokenizer = parse_settings(EXPERIMENT_SETTINGS, argv, required=("output_dir",))
        plan = plan_experiment(exp, corpus, task, model, tokenizer)
    except UserError as err:
        sys.exit(f"experiment.py: error: {err}")
    launcher = None if exp.launcher == "python" else shlex.split(exp.launcher)

    # -- the runs, each once, --jobs at a time: a row's pre-training before its fine-tunes -------------------------
    try:
        outcomes = run_plan(plan.runs(), scripts=SCRIPTS, jobs=exp.jobs, threads=exp.threads_per_run,
                            launcher=launcher, dry_run=exp.dry_run)
    except UserError as err:
        sys.exit(f"experiment.py: error: {err}")
    if exp.dry_run:
        return
    rows = [
        table_row(row.subset, outcomes[row.pretraining.run_dir], [outcomes[r.run_dir] for r in row.finetunes],
                  [outcomes[r.run_dir] for r in row.scratch])
        for row in plan.rows
    ]

    # -- the table ---------------------------------------------------------------------------------------------
    first = outcomes[plan.rows[0].scratch[0].run_dir]
    seeds = f"{len(exp.seeds)} seeds" if len(exp.seeds) > 1 else "1 seed (n=1: no spread)"
    title = (f"{task.task}: {first['train_size']:,} train / {first['test_size']:,} test, {model.preset}"
             f"{' (' + model.config_overrides + ')' if model.config_overrides else ''}, recipe {exp.recipe}, {seeds}, "
             + ("learning rate chosen on validation, test accuracy" if exp.learning_rate_grid
                else "final-epoch test accuracy"))
    write_experiment_results(rows, exp.output_dir, title)
    print(experiment_table(rows, title))
    print(f"wrote {exp.output_dir}/results.json, results.csv, results.md, results.png")


if __name__ == "__main__":
    main()
