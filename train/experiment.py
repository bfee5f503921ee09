"""One of the paper's tables in one command: pre-train per W_s, fine-tune both arms over seeds, tabulate.

    python train/experiment.py --config train/configs/quick.yaml --output-dir runs/quick
    python train/experiment.py --config train/configs/table5-local.yaml --output-dir runs/t5 --seeds 0 1 2

For each row (one entry of w_s) a model is pre-trained once by train/pretrain.py; every seed then
fine-tunes it (the "pretrained" arm) and a randomly initialised twin (the "scratch" arm, shared by all
rows) with train/finetune.py. Each run lives in its own folder named after a hash of its settings, so
rerunning, extending or resuming an interrupted experiment reuses every finished run.

Writes to --output-dir: results.json / .csv / .md / .png, and pretrain/<run>/ and finetune/<run>/
(each with settings.yaml, the exact settings the script was run with).
"""

import shlex
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import yaml

from tlm_hf.experiments import ExperimentSettings, broadcast_rows, markdown_table, run_key, table_row, write_results
from tlm_hf.settings import CorpusSettings, ModelSettings, SettingsError, TaskSettings, parse_settings, read_json

TRAIN = Path(__file__).resolve().parent


def run(script: str, settings: dict, run_dir: Path, label: str, done_file: str) -> dict:
    """Start `script` with `settings` in `run_dir` unless it finished before; return its done_file as a dict.

    Uses the module's `exp`, `launcher` and `trainer_args`, set from the settings below.
    """
    done = run_dir / done_file
    if done.exists():
        print(f"[cached] {label}: {run_dir}", flush=True)
        return read_json(done)
    print(f"[{'would run' if exp.dry_run else 'run'}] {label}: {run_dir}", flush=True)
    if exp.dry_run:
        return None
    run_dir.mkdir(parents=True, exist_ok=True)
    (run_dir / "settings.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))
    command = [*launcher, str(TRAIN / script), "--config", str(run_dir / "settings.yaml"), "--output_dir", str(run_dir)]
    if list(run_dir.glob("checkpoints/checkpoint-*")):
        command.append("--resume")  # an interrupted pre-training continues where it stopped
    command += trainer_args
    if subprocess.run(command).returncode != 0:
        sys.exit(f"experiment.py: error: {script} failed for {label}; its settings are in {run_dir}/settings.yaml")
    return read_json(done)


try:
    exp, corpus, task, model = parse_settings(
        (ExperimentSettings, CorpusSettings, TaskSettings, ModelSettings), required=("output_dir",)
    )
    rows_spec = broadcast_rows(exp)
    if not task.task:
        raise SettingsError("an experiment needs a task; set task in the config or with --task")
    out = Path(exp.output_dir)
    launcher = [sys.executable] if exp.launcher == "python" else shlex.split(exp.launcher)
    trainer_args = shlex.split(exp.trainer_args or "")
except SettingsError as err:
    sys.exit(f"experiment.py: error: {err}")

common = dict(per_device_train_batch_size=exp.batch_size, **asdict(task))
scratch_results = {}
for seed in exp.seeds:  # the scratch arm does not depend on W_s: one run per seed serves every row
    settings = dict(
        scratch=True, **asdict(model), **common, seed=seed, num_train_epochs=exp.finetune_epochs,
        learning_rate=exp.scratch_learning_rate, weight_decay=exp.scratch_weight_decay,
    )
    run_dir = out / "finetune" / f"scratch-seed{seed}-{run_key(settings)}"
    scratch_results[seed] = run("finetune.py", settings, run_dir, f"scratch, seed {seed}", "results.json")

rows = []
for spec in rows_spec:
    w_s = None if spec["w_s"] == "all" else int(spec["w_s"])
    pretrain = dict(
        subset=spec["subset"], w_s=w_s, subset_seed=exp.subset_seed, avoid_fraction=exp.avoid_fraction,
        **asdict(corpus), **asdict(model), **common, num_train_epochs=exp.pretrain_epochs,
        learning_rate=exp.pretrain_learning_rate, weight_decay=exp.pretrain_weight_decay,
    )
    pretrain_key = run_key(pretrain)
    pretrain_dir = out / "pretrain" / f"{spec['subset']}-ws{spec['w_s']}-{pretrain_key}"
    stats = run("pretrain.py", pretrain, pretrain_dir, f"pre-training {spec['subset']} W_s={spec['w_s']}",
                "pretraining_stats.json")
    pretrained_results = []
    for seed in exp.seeds:
        settings = dict(
            **common, max_length=model.max_length, seed=seed, num_train_epochs=exp.finetune_epochs,
            learning_rate=spec["learning_rate"], weight_decay=spec["weight_decay"],
        )
        # keyed by the pre-training's key, not its path: the same runs are found from any working directory
        key = run_key({**settings, "pretrained": pretrain_key})
        run_dir = out / "finetune" / f"pretrained-{spec['subset']}-ws{spec['w_s']}-seed{seed}-{key}"
        pretrained_results.append(run("finetune.py", {"pretrained": str(pretrain_dir), **settings}, run_dir,
                                      f"fine-tuning W_s={spec['w_s']} ({spec['subset']}), seed {seed}", "results.json"))
    if not exp.dry_run:
        rows.append(table_row(spec["subset"], stats, pretrained_results, [scratch_results[s] for s in exp.seeds]))

if exp.dry_run:
    sys.exit(0)
title = (f"{task.task}: {scratch_results[exp.seeds[0]]['train_size']:,} train / "
         f"{scratch_results[exp.seeds[0]]['test_size']:,} test, {model.preset}"
         f"{' (' + model.config_overrides + ')' if model.config_overrides else ''}, {len(exp.seeds)} seeds, "
         "final-epoch test accuracy")
write_results(rows, out, title)
print(markdown_table(rows, title))
print(f"wrote {out}/results.json, results.csv, results.md, results.png")
