"""Running a plan --jobs at a time: the same numbers whatever N, resuming after a kill, stopping on a failure."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import yaml
from training_helpers import REPO, tiny_files

from tlm_hf.training.launch import run_plan


def tiny_experiment(tmp_path, **settings) -> Path:
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        **tiny_files(tmp_path), "w_s": [24, 32], "seeds": [0, 1], "pretrain_epochs": 1, "finetune_epochs": 2,
        "batch_size": 16, "learning_rate": [1e-3], "scratch_learning_rate": 1e-3, **settings,
    }))
    return config


def experiment(config, out, *extra, wait=True):
    command = [sys.executable, str(REPO / "train" / "experiment.py"), "--config", str(config), "--output_dir", str(out),
               *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    if not wait:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                start_new_session=True)
    return subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)


def test_jobs_2_writes_the_same_results_as_jobs_1_and_a_killed_run_resumes_to_them(tmp_path):
    config = tiny_experiment(tmp_path)
    one = experiment(config, tmp_path / "one", "--jobs", "1")
    assert one.returncode == 0, one.stdout + one.stderr
    two = experiment(config, tmp_path / "two", "--jobs", "2")
    assert two.returncode == 0, two.stdout + two.stderr
    expected = json.loads((tmp_path / "one" / "results.json").read_text())
    assert json.loads((tmp_path / "two" / "results.json").read_text()) == expected
    assert "[run] 1/" in two.stdout and "[done]" in two.stdout and "left)" in two.stdout  # progress and estimate

    # the experiment alone killed while runs are in flight (after the first finished): its workers die with it
    # (else the rerun would find their folders locked), and a rerun finishes with the same results
    killed = experiment(config, tmp_path / "killed", "--jobs", "2", wait=False)
    for line in killed.stdout:
        if line.startswith("[done]"):
            break
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed" / "results.json").exists()
    again = experiment(config, tmp_path / "killed", "--jobs", "2")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "[cached]" in again.stdout
    assert json.loads((tmp_path / "killed" / "results.json").read_text()) == expected


def test_a_failed_run_stops_the_plan_with_its_one_line_error_and_keeps_the_finished_folders(tmp_path):
    config = tiny_experiment(tmp_path, w_s=[24, 100000], seeds=[0])
    done = experiment(config, tmp_path / "out", "--jobs", "2")
    assert done.returncode == 1
    error = done.stderr.strip().splitlines()[-1]
    assert error.startswith("experiment.py: error: pre-training random W_s=100000 failed:")
    assert "larger than the corpus" in error and "Traceback" not in done.stderr
    # the runs started before the failure finished, whole; nothing of the failed row ran
    assert len(list((tmp_path / "out" / "pretrain").glob("random-ws24-*/pretraining_stats.json"))) == 1
    for done_file in (tmp_path / "out").glob("*/*/results.json"):
        assert json.loads(done_file.read_text())["accuracy_final"] >= 0
    assert not list((tmp_path / "out").glob("finetune/pretrained-random-ws100000-*"))
    assert not (tmp_path / "out" / "results.json").exists()


def test_a_run_waits_for_the_pre_training_it_reads(tmp_path):
    from tlm_hf.training.launch import _waits
    from tlm_hf.training.experiments import PlannedRun

    pre = PlannedRun("pretraining", {}, tmp_path / "pre", "pre", "pretraining_stats.json")
    fine = PlannedRun("finetuning", {"pretrained": str(tmp_path / "pre")}, tmp_path / "ft", "ft", "results.json")
    scratch = PlannedRun("finetuning", {"scratch": True}, tmp_path / "s", "s", "results.json")
    assert _waits(fine, {pre.run_dir}) and not _waits(fine, set()) and not _waits(scratch, {pre.run_dir})


def test_a_dry_run_lists_what_would_run_and_starts_nothing(tmp_path, capsys):
    from tlm_hf.training.experiments import PlannedRun

    runs = [PlannedRun("pretraining", {}, tmp_path / "pre", "pre", "pretraining_stats.json")]
    assert run_plan(runs, jobs=2, dry_run=True) == {tmp_path / "pre": None}
    assert "[would run] 1/1 pre" in capsys.readouterr().out and not (tmp_path / "pre").exists()


def test_pre_trainings_start_before_the_fine_tunes_that_are_ready(tmp_path, monkeypatch, capsys):
    """With one worker, a plan listing a scratch fine-tune before a pre-training starts the pre-training first."""
    import tlm_hf.training.launch as launch
    from tlm_hf.training.experiments import PlannedRun

    started = []

    class Immediate:  # runs nothing: records the order and writes the done file
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def submit(self, execute, stage, argv, log):
            import concurrent.futures
            import json as json_

            run_dir = Path(argv[argv.index("--output_dir") + 1])
            started.append(run_dir.name)
            done = "pretraining_stats.json" if stage == "pretraining" else "results.json"
            (run_dir / done).write_text(json_.dumps({"name": run_dir.name}))
            future = concurrent.futures.Future()
            future.set_result(None)
            return future

    monkeypatch.setattr(launch.concurrent.futures, "ProcessPoolExecutor", Immediate)
    runs = [PlannedRun("finetuning", {"scratch": True}, tmp_path / "scratch", "scratch", "results.json"),
            PlannedRun("pretraining", {}, tmp_path / "pre", "pre", "pretraining_stats.json"),
            PlannedRun("finetuning", {"pretrained": str(tmp_path / "pre")}, tmp_path / "ft", "ft", "results.json")]
    outcomes = run_plan(runs, jobs=1)
    assert started == ["pre", "scratch", "ft"]
    assert outcomes[tmp_path / "ft"] == {"name": "ft"}


def test_workers_keep_freed_memory_unless_the_user_set_the_allocator(tmp_path, monkeypatch):
    """glibc's thresholds are in the environment the workers start with (fewer page faults, same numbers); a value
    the user exported wins."""
    import concurrent.futures
    import os

    import tlm_hf.training.launch as launch
    from tlm_hf.training.experiments import PlannedRun
    from tlm_hf.training.launch import ALLOCATOR_ENV

    seen = {}

    class Recording(concurrent.futures.ThreadPoolExecutor):  # the environment when the worker pool is made
        def __init__(self, max_workers, **kwargs):
            seen.update({k: os.environ.get(k) for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")})
            super().__init__(max_workers)

        def submit(self, execute, stage, argv, log):
            (Path(argv[argv.index("--output_dir") + 1]) / "pretraining_stats.json").write_text("{}")
            return super().submit(lambda: None)

    monkeypatch.setattr(launch.concurrent.futures, "ProcessPoolExecutor", Recording)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "12345")
    run_plan([PlannedRun("pretraining", {}, tmp_path / "pre", "pre", "pretraining_stats.json")], jobs=1)
    assert seen == {"MALLOC_MMAP_THRESHOLD_": ALLOCATOR_ENV["MALLOC_MMAP_THRESHOLD_"], "MALLOC_TRIM_THRESHOLD_": "12345"}
