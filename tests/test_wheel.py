"""The package as a user installs it: a wheel in a fresh virtual environment, with no repository on the path, runs
an experiment and a claim through `tlm` (nothing in the library reads the scripts or configs in train/)."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import yaml
from training_helpers import REPO, tiny_files


def run(*command, **kwargs):
    done = subprocess.run(command, capture_output=True, text=True, **kwargs)
    assert done.returncode == 0, f"{command} exited {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


def test_the_wheel_in_a_fresh_environment_runs_an_experiment_and_a_claim_through_tlm(tmp_path):
    # built from a copy: setuptools' build/ folder would otherwise land in the repository, and a stale one there
    # packs modules that no longer exist
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(
        ".git", ".venv*", "build", "dist", "runs", "*.egg-info", "__pycache__", ".device", ".pytest_cache"))
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet", str(source),
        "--wheel-dir", str(tmp_path / "dist"))
    (wheel,) = (tmp_path / "dist").glob("tlm_hf-*.whl")
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--without-pip", str(venv))
    python = venv / "bin" / "python"
    # the dependencies (torch, transformers, ...) from this environment's site-packages, as a plain path entry: its
    # own .pth files (this repository's editable install among them) are not read from there
    site = run(str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))").strip()
    (Path(site) / "dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "--quiet",
        str(wheel))

    work = tmp_path / "work"  # the user's folder: no repository in it or above it
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env.update(HF_HUB_OFFLINE="1", PATH=f"{venv / 'bin'}{os.pathsep}{env['PATH']}")
    where = run(str(python), "-c", "import tlm_hf; print(tlm_hf.__file__)", cwd=work, env=env)
    assert where.startswith(str(venv)) and str(REPO) not in where

    config = work / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        **tiny_files(work), "w_s": [24], "seeds": [0], "pretrain_epochs": 1, "finetune_epochs": 1,
        "batch_size": 16, "learning_rate": [1e-3], "scratch_learning_rate": 1e-3,
    }))
    out = run(str(venv / "bin" / "tlm"), "experiment", "--config", str(config), "--output_dir", "runs/tiny",
              "--jobs", "2", cwd=work, env=env)
    assert out.count("[run]") == 3 and "| random | 24 |" in out
    (row,) = json.loads((work / "runs" / "tiny" / "results.json").read_text())
    assert row["seeds"] == [0] and 0 <= row["acc_pretrained_mean"] <= 1

    tlm = str(venv / "bin" / "tlm")
    listed = run(tlm, "--help", cwd=work, env=env)
    for command in ("pretrain", "finetune", "experiment", "compare", "committee", "reproduce", "blimp", "stats",
                    "subset", "publish"):
        assert command in listed, command
    claims = work / "claims.yaml"  # claim 1 on the tiny data: one W_s row, one pre-training
    claims.write_text(yaml.safe_dump({
        **tiny_files(work), "train_per_label": 6, "validation_per_label": 2, "w_s": [24], "pretrain_seeds": [1],
        "seeds": [0], "pretrain_epochs": 1, "finetune_epochs": 1, "batch_size": 16, "learning_rates": [1e-3],
    }))
    out = run(tlm, "reproduce", "--config", str(claims), "--claims", "1", "--output_dir", "runs/claims", cwd=work,
              env=env)
    assert "claim 1: pre-training pays off" in out
    (claim,) = json.loads((work / "runs" / "claims" / "report.json").read_text())["claims"]
    assert claim["claim"] == 1 and claim["verdict"]["verdict"].startswith("inconclusive")
    default_plan = run(tlm, "reproduce", "--output_dir", "runs/paper-mini", "--dry_run", cwd=work, env=env)
    assert "pre-trainings" in default_plan.splitlines()[-1]  # the plan shipped with the package
