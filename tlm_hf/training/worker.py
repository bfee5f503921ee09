"""What a worker process of a plan runs: pinned once to its threads (and GPU), then one run after another, each
from its settings file into its own folder, its output (Python's and C's) into the run's log.txt. The local plan
runner (launch.py) and the cluster launchers (cluster.py) both hand runs to `run_in_worker`."""

import os
import sys

from ..errors import UserError


def start_worker(threads: int | None, devices: list[str], counter) -> None:
    """Pin the worker's threads (and, on GPUs, its device: worker i takes device i mod the device count)."""
    with counter.get_lock():
        index = counter.value
        counter.value += 1
    if sys.platform.startswith("linux"):  # a worker dies with its experiment, however the experiment ends
        import ctypes
        import signal

        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if devices:
        os.environ["CUDA_VISIBLE_DEVICES"] = devices[index % len(devices)]
    if threads:
        import torch

        torch.set_num_threads(threads)


def run_in_worker(stage: str, argv: list[str], log_file: str) -> str | None:
    """Run the `stage` from its settings file and flags (`argv`) with every output (Python's and C's) going to
    `log_file`; return the one-line error of a run that refused its input (None when it finished). A bug raises,
    and keeps its traceback."""
    from ..arguments import parse_settings
    from ..settings import FINETUNE_SETTINGS, PRETRAIN_SETTINGS
    from .finetuning import finetune
    from .pretraining import pretrain
    from .runs import release_run_dirs

    types, run = {"pretraining": (PRETRAIN_SETTINGS, pretrain), "finetuning": (FINETUNE_SETTINGS, finetune)}[stage]
    sys.stdout.flush(), sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log_file, "a") as log:
        os.dup2(log.fileno(), 1), os.dup2(log.fileno(), 2)
        try:
            run(*parse_settings(types, argv, stage=stage, required=("output_dir",), prog=stage))
        except UserError as err:
            print(f"{stage}: error: {err}", file=sys.stderr)
            return str(err)
        finally:
            sys.stdout.flush(), sys.stderr.flush()
            os.dup2(saved[0], 1), os.dup2(saved[1], 2)
            os.close(saved[0]), os.close(saved[1])
            release_run_dirs()  # this run's folder locks: the worker lives on, the run does not
    return None
