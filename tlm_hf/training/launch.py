"""Runs a plan of cached runs: each once, a run after the runs it reads, up to `jobs` at a time.

The runs are the library's pre-training and fine-tuning (`pretraining.pretrain`, `finetuning.finetune`), called
inside long-lived worker processes, so transformers and torch are imported once per worker, not once per run.
Each worker is a fresh interpreter (spawn) whose output goes to the run's own `log.txt`; the console gets one progress line per
run. Every run gets the same fixed number of CPU threads (its `threads` setting, written into its settings), so
`jobs` changes how long a plan takes, never a number in it. With a launcher other than `python` (e.g.
`accelerate launch` on several GPUs) each run is a process of its own (`LAUNCHER -m MODULE ARGS`). With `ray` or
`slurm` each run is a Ray task or a SLURM job on a cluster (cluster.py), the plan still decided here.
"""

import concurrent.futures
import contextlib
import multiprocessing
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

import yaml

from ..errors import SettingsError
from .cluster import CLUSTER_LAUNCHERS, cluster_pool
from .runs import atomic_write, last_complete_checkpoint, read_json
from .worker import run_in_worker, start_worker


def _format_seconds(seconds: float) -> str:
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else \
        f"{seconds // 60}:{seconds % 60:02d}"


# glibc hands large freed blocks back to the system at once (mmap threshold, trim threshold) and a training step
# frees and allocates the same large tensors again and again: the main job spent 11% of its CPU time in the
# kernel, on 100 million page faults. Keeping the memory in the process, as jemalloc or tcmalloc do, took the main
# job from 17 to 14 minutes with identical results (docs/benchmarks.md). A user's own setting wins.
ALLOCATOR_ENV = {"MALLOC_MMAP_THRESHOLD_": str(2**30), "MALLOC_TRIM_THRESHOLD_": str(2**30)}


def _keep_freed_memory() -> None:
    """ALLOCATOR_ENV for the processes started from now on (glibc reads it when a process starts)."""
    if sys.platform.startswith("linux"):
        for name, value in ALLOCATOR_ENV.items():
            os.environ.setdefault(name, value)


# The command that runs each stage of a plan (PlannedRun.stage) as a process of its own, under a launcher.
STAGE_MODULES = {"pretraining": "tlm_hf.commands.pretrain", "finetuning": "tlm_hf.commands.finetune"}


# --- the plan's side ---------------------------------------------------------------------------------------------


def _run_as_process(launcher: list[str], stage: str, argv: list[str], log_file: str) -> str | None:
    """The run as a process of its own (e.g. under `accelerate launch`), its output into `log_file`."""
    with open(log_file, "a") as log:
        done = subprocess.run([*launcher, "-m", STAGE_MODULES[stage], *argv], stdout=log, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        return f"exited with status {done.returncode}"
    return None


def _waits(run, unfinished) -> bool:
    """Whether the run reads a planned run that has not finished: a fine-tune reads the pre-training folder
    named by its `pretrained` setting."""
    source = run.settings.get("pretrained")
    return bool(source) and Path(source) in unfinished


# Settings of an experiment (or committee) that say where its runs execute on a cluster: cluster.cluster_pool's.
CLUSTER_SETTINGS = ("ray_address", "slurm_partition", "slurm_time", "gpus_per_run")


def launch_settings(settings) -> dict:
    """run_plan's jobs, threads, launcher and cluster from an experiment's or committee's settings."""
    return dict(jobs=settings.jobs, threads=settings.threads_per_run,
                launcher=None if settings.launcher == "python" else shlex.split(settings.launcher),
                cluster={name: getattr(settings, name) for name in CLUSTER_SETTINGS})


def run_plan(runs, *, jobs: int = 1, threads: int | None = None, launcher: list[str] | None = None,
             dry_run: bool = False, devices: list[str] | None = None, cluster: dict | None = None) -> dict:
    """Every run of `runs` (PlannedRun, see experiments.py) that has not finished before, up to `jobs` at a time;
    returns {run_dir: its done file as a dict} (None for runs a dry run would start).

    threads: CPU threads of every run (written into its settings). launcher: None runs each run's stage
    (`STAGE_MODULES`) inside worker processes; a command (["accelerate", "launch"])
    starts each run as its own process; ["ray"], ["slurm"] or ["slurm-local"] makes each run a Ray task or a
    submitit job (cluster.py; `cluster`: its CLUSTER_SETTINGS). devices: GPU ids to spread the workers over (default
    all visible).
    A run that fails stops the plan: nothing new starts, the runs already started finish, and the failure's
    one-line error is raised as a SettingsError (a bug in a worker is raised with its traceback).
    """
    outcomes, pending = {}, {}
    for run in runs:
        if run.run_dir in outcomes or run.run_dir in pending:
            continue
        done = run.run_dir / run.done_file
        if done.exists():
            print(f"[cached] {run.label}: {run.run_dir}", flush=True)
            outcomes[run.run_dir] = read_json(done)
        else:
            pending[run.run_dir] = run
    if dry_run:
        for number, run in enumerate(pending.values(), 1):
            print(f"[would run] {number}/{len(pending)} {run.label}: {run.run_dir}", flush=True)
        outcomes.update(dict.fromkeys(pending))
        return outcomes
    if not pending:
        return outcomes

    total, started_at, durations = len(pending), time.monotonic(), {}
    _keep_freed_memory()
    if launcher is None:
        if devices is None:
            devices = _visible_devices()
        context = multiprocessing.get_context("spawn")
        pool = concurrent.futures.ProcessPoolExecutor(
            max_workers=jobs, mp_context=context, initializer=start_worker,
            initargs=(threads, devices, context.Value("i", 0)))
        execute = run_in_worker
    elif len(launcher) == 1 and launcher[0] in CLUSTER_LAUNCHERS:
        pool = cluster_pool(launcher[0], jobs=jobs, threads=threads, folders=[run.run_dir for run in pending.values()],
                            allocator_env={name: os.environ[name] for name in ALLOCATOR_ENV if name in os.environ},
                            **(cluster or {}))
        execute = run_in_worker
    else:
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=jobs)
        execute = lambda stage, argv, log: _run_as_process(launcher, stage, argv, log)  # noqa: E731

    def start(run):
        run.run_dir.mkdir(parents=True, exist_ok=True)
        settings = {**run.settings, **({"threads": threads} if threads else {})}
        settings_file = run.run_dir / "settings.yaml"
        atomic_write(settings_file, yaml.safe_dump(settings, sort_keys=False))
        argv = ["--config", str(settings_file), "--output_dir", str(run.run_dir), "--disable_tqdm", "true"]
        if last_complete_checkpoint(run.run_dir / "checkpoints"):
            argv.append("--resume")  # an interrupted run continues from its newest complete checkpoint
        started.append(run)
        print(f"[run] {len(started)}/{total} {run.label}: {run.run_dir} (log.txt; elapsed "
              f"{_format_seconds(time.monotonic() - started_at)}{_estimate(run)})", flush=True)
        future = pool.submit(execute, run.stage, argv, str(run.run_dir / "log.txt"))
        running[future] = (run, time.monotonic())

    def _estimate(_run) -> str:
        """Time left: each kind of run (its stage) as long as its finished ones took on average, `jobs` at once."""
        left = [r for r in pending.values()] + [r for r, _ in running.values()]
        known = {stage: sum(times) / len(times) for stage, times in durations.items()}
        if not left or any(r.stage not in known for r in left):
            return ""
        return f", about {_format_seconds(sum(known[r.stage] for r in left) / jobs)} left"

    running, started, failure = {}, [], None
    with pool:
        while pending or running:
            while failure is None and len(running) < jobs:
                unfinished = {*pending, *(r.run_dir for r, _ in running.values())}
                ready = [r for r in pending.values() if not _waits(r, unfinished)]
                # pre-trainings first: they are the long runs that the others wait for
                ready = next((r for r in ready if r.stage == "pretraining"), ready[0] if ready else None)
                if ready is None:
                    break
                del pending[ready.run_dir]
                start(ready)
            if not running:
                break
            finished, _ = concurrent.futures.wait(running, return_when=concurrent.futures.FIRST_COMPLETED)
            for future in finished:
                run, began = running.pop(future)
                try:
                    error = future.result()  # a bug in the run raises here, with the worker's traceback
                except concurrent.futures.BrokenExecutor:  # a worker was killed: no traceback of ours to show
                    error = "a worker process was killed while it ran (out of memory, or a signal); rerun to resume"
                if error is not None:
                    failure = failure or f"{run.label} failed: {error} (its log: {run.run_dir / 'log.txt'})"
                    continue
                durations.setdefault(run.stage, []).append(time.monotonic() - began)
                outcomes[run.run_dir] = read_json(run.run_dir / run.done_file)
                print(f"[done] {total - len(pending) - len(running)}/{total} {run.label} in "
                      f"{_format_seconds(durations[run.stage][-1])}", flush=True)
            if failure is not None:
                pending.clear()  # nothing new starts; the runs already started finish and keep their folders
    if failure is not None:
        raise SettingsError(failure)
    return outcomes


def _visible_devices() -> list[str]:
    """The GPU ids a worker may be pinned to: CUDA_VISIBLE_DEVICES, else every GPU torch sees (none on a CPU)."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d for d in visible.split(",") if d.strip()]
    with contextlib.suppress(Exception):
        import torch

        if torch.cuda.is_available():
            return [str(i) for i in range(torch.cuda.device_count())]
    return []
