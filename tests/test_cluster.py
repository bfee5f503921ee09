"""A plan on a cluster: a local Ray instance (2 CPUs) and submitit's local executor give the --jobs 1 results, a
worker killed mid-run is retried to the same results, a user error is not retried and stops the plan with its
line, a plan folder the workers cannot share (or runs no node can hold) is refused, and without the extras
--launcher ray / slurm ends in one line naming the extra to install."""

import importlib.util
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from training_helpers import tiny_files

from tlm_hf.commands.experiment import main as experiment

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="the ray extra is not installed (pip install -e '.[ray]')")
needs_submitit = pytest.mark.skipif(importlib.util.find_spec("submitit") is None,
                                    reason="the slurm extra is not installed (pip install -e '.[slurm]')")


@pytest.fixture(scope="module")
def config(tmp_path_factory) -> Path:
    """A tiny experiment of 3 runs: a pre-training, the fine-tune that reads it, and a scratch fine-tune."""
    folder = tmp_path_factory.mktemp("cluster")
    config = folder / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        **tiny_files(folder), "w_s": [24], "seeds": [0], "pretrain_epochs": 2, "finetune_epochs": 2,
        "batch_size": 16, "learning_rate": [1e-3], "scratch_learning_rate": 1e-3,
    }))
    return config


def run(config, out: Path, *flags) -> list[dict]:
    """The experiment in this process; its results.json."""
    experiment(["--config", str(config), "--output_dir", str(out), *flags], prog="experiment")
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def expected(config) -> list[dict]:
    """What --jobs 1 writes: every launcher must write the same."""
    return run(config, config.parent / "jobs1", "--jobs", "1")


@pytest.fixture(scope="module")
def local_ray():
    import ray

    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield ray
    ray.shutdown()


def kill_once(run_folder: Path, killed: list) -> threading.Thread:
    """In the background: once a run under `run_folder` has written to its log, SIGKILL the worker process that
    holds that log open (the process running the run), once."""
    import psutil

    def watch():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            logs = {str(log) for log in run_folder.glob("*/log.txt") if log.stat().st_size > 0}
            for process in psutil.process_iter() if logs else []:
                try:
                    if logs & {file.path for file in process.open_files()} and process.pid != os.getpid():
                        command = process.cmdline()  # read before the kill: a killed process has none
                        process.send_signal(signal.SIGKILL)
                        killed.append(command)
                        return
                except psutil.Error:  # gone, or not ours to look at
                    continue
            time.sleep(0.05)

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


@needs_ray
def test_ray_writes_the_results_of_jobs_1_with_a_worker_killed_mid_run(config, expected, local_ray, capsys):
    """The Ray worker running the pre-training is killed mid-run: Ray runs the task again, which starts the run
    afresh (or resumes it from its newest complete checkpoint), and the plan finishes with --jobs 1's numbers."""
    out, killed = config.parent / "ray", []
    watcher = kill_once(out / "pretrain", killed)
    assert run(config, out, "--launcher", "ray", "--jobs", "2") == expected
    watcher.join()
    assert killed and "ray::run_on_node" in " ".join(killed[0])  # a Ray worker, running our run
    printed = capsys.readouterr().out
    assert "[ray] cluster of 1 node(s), 2 CPUs" in printed and "dashboard" in printed
    assert "[run] 1/3" in printed and "[done] 3/3" in printed
    assert run(config, out, "--launcher", "ray") == expected  # a rerun reuses every finished run
    assert capsys.readouterr().out.count("[cached]") == 3


@needs_ray
def test_ray_refuses_a_plan_folder_a_node_cannot_share(config, local_ray, monkeypatch):
    import tlm_hf.training.cluster as cluster

    monkeypatch.setattr(cluster, "_probe_storage", lambda probe, token, node_id: "node-b: Read-only file system")
    with pytest.raises(SystemExit) as refused:
        run(config, config.parent / "unshared", "--launcher", "ray")
    assert str(refused.value).startswith("experiment: error: the output folder ")
    assert "node-b: Read-only file system" in str(refused.value) and "\n" not in str(refused.value)
    assert not list((config.parent / "unshared").glob("*/*/log.txt"))  # nothing ran


@needs_submitit
def test_submitit_local_executor_writes_the_results_of_jobs_1_with_a_job_killed_mid_run(config, expected, capsys):
    out, killed = config.parent / "submitit", []
    watcher = kill_once(out / "pretrain", killed)
    assert run(config, out, "--launcher", "slurm-local", "--jobs", "2") == expected
    watcher.join()
    assert killed and "submitit" in " ".join(killed[0])
    printed = capsys.readouterr().out
    assert "[slurm] job " in printed and "ended without a result" in printed
    assert "[run] 1/3" in printed and "[done] 3/3" in printed


@pytest.mark.parametrize("launcher, module, extra", [("ray", "ray", "ray"), ("slurm", "submitit", "slurm")])
def test_a_cluster_launcher_without_its_extra_names_the_extra_to_install(tmp_path, monkeypatch, launcher, module,
                                                                          extra):
    monkeypatch.setitem(sys.modules, module, None)  # import fails, as without the extra
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**tiny_files(tmp_path), "w_s": [24], "seeds": [0]}))
    with pytest.raises(SystemExit) as refused:
        experiment(["--config", str(config), "--output_dir", str(tmp_path / "out"), "--launcher", launcher],
                   prog="experiment")
    assert str(refused.value) == (f"experiment: error: --launcher {launcher} needs the optional {module} package: "
                                  f"pip install tlm-hf[{extra}]")


@needs_ray
def test_ray_refuses_runs_no_node_can_hold(config, local_ray):
    with pytest.raises(SystemExit) as refused:
        run(config, config.parent / "too-big", "--launcher", "ray", "--threads_per_run", "3")
    assert str(refused.value) == ("experiment: error: no node of the Ray cluster has the 3 CPU(s) (--threads_per_run) "
                                  "and 0 GPU(s) (--gpus_per_run) that each run asks for")


def test_a_run_tried_again_resumes_from_the_checkpoint_the_killed_try_left(tmp_path, monkeypatch):
    """A cluster worker runs in the plan's working directory, and adds --resume once the run's folder holds a
    complete checkpoint (a half-written one does not count)."""
    import torch
    from safetensors.torch import save_file

    import tlm_hf.training.worker as worker
    from tlm_hf.training.cluster import run_on_node

    seen = []
    monkeypatch.setattr(worker, "run_in_worker", lambda stage, argv, log: seen.append((os.getcwd(), argv)))
    argv = ["--config", "run/settings.yaml", "--output_dir", "run"]  # relative to the plan's working directory
    run_on_node("pretraining", argv, "run/log.txt", str(tmp_path))
    checkpoint = tmp_path / "run" / "checkpoints" / "checkpoint-4"
    checkpoint.mkdir(parents=True)
    run_on_node("pretraining", argv, "run/log.txt", str(tmp_path))  # killed while saving: no trainer_state.json
    (checkpoint / "trainer_state.json").write_text("{}")
    save_file({"weight": torch.zeros(1)}, str(checkpoint / "model.safetensors"))
    run_on_node("pretraining", argv, "run/log.txt", str(tmp_path))
    assert seen == [(str(tmp_path), argv), (str(tmp_path), argv), (str(tmp_path), [*argv, "--resume"])]
    assert os.getcwd() != str(tmp_path)  # the worker's own directory again afterwards


@needs_ray
def test_ray_does_not_retry_a_user_error_and_stops_the_plan_with_its_line(config, local_ray):
    """A W_s larger than the corpus is refused by the run: one line, the run tried once, no results table."""
    out = config.parent / "user-error"
    with pytest.raises(SystemExit) as refused:
        run(config, out, "--launcher", "ray", "--w_s", "100000")
    assert str(refused.value).startswith("experiment: error: pre-training random W_s=100000 failed: ")
    assert "larger than the corpus" in str(refused.value) and "\n" not in str(refused.value)
    (log,) = out.glob("pretrain/*/log.txt")
    assert log.read_text().count("pretraining: error:") == 1  # not retried
    assert not (out / "results.json").exists()
