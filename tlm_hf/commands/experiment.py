"""One of the paper's tables in one command: pre-train per W_s, fine-tune both arms over seeds, tabulate.

    tlm experiment --config train/configs/quick.yaml --output_dir runs/quick --jobs 2
    tlm experiment --config train/configs/table5-local.yaml --output_dir runs/t5 --seeds 0 1 2

For each row (one entry of w_s) a model is pre-trained once; every seed then fine-tunes it (the "pretrained"
arm) and a randomly initialised twin (the "scratch" arm, shared by all rows). Each run lives in its own folder
named after a hash of its settings, so rerunning, extending or resuming an interrupted experiment reuses every
finished run. The whole plan is checked before the first run starts. --jobs N runs N independent runs at once in
long-lived worker processes (each run with --threads_per_run CPU threads, default 1, so that N changes no number).

Writes to --output_dir: results.json / .csv / .md / .png, and pretrain/<run>/ and finetune/<run>/
(each with settings.yaml, the exact settings the run was started with, and log.txt, what it printed).
"""

from ..settings import EXPERIMENT_SETTINGS
from ..training.experiments import run_experiment
from . import run_command


def main(argv=None, *, prog: str | None = None) -> list[dict] | None:
    """The command line (or `argv`) of `run_experiment`."""
    return run_command(run_experiment, EXPERIMENT_SETTINGS, argv, prog=prog, description=__doc__,
                       required=("output_dir",))


if __name__ == "__main__":
    main()
