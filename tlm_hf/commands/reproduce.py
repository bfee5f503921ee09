"""The paper's four claims, each answered by one command, with a verdict.

    tlm reproduce --output_dir runs/paper-mini --jobs 2            # the default plan (~70 min, 2-core Zen 4)
    tlm reproduce --output_dir runs/paper-mini --dry_run           # the runs and a time estimate
    tlm reproduce --claims 4 --output_dir runs/paper-mini          # one claim
    tlm reproduce --latency_only --output_dir runs/latency         # claim 4's latency, no training
    tlm reproduce --config train/configs/paper-mini/claims-gpu.yaml --output_dir runs/paper-gpu

1. pre-training pays off: the mean gap (pre-trained - scratch twin) over the pre-trainings of the largest W_s;
2. the gap grows with W_s: the slope of the pre-trainings' gaps against log10 W_s;
3. the gap shrinks as task tokens go missing: the slope against the share of the task's tokens absent from W_s;
4. a soft committee of 1-block members matches a 6-block model, and is faster side by side.

Claims 1 and 2 carry a control: each pre-training repeated on word-shuffled paragraphs. The config (default: the
plan shipped with the package, tlm_hf/training/claims/claims.yaml) is an experiment config with a `claims:`
mapping; any other flag is a setting of that experiment (--jobs 2, --dry_run, --seeds, --pretrain_seeds, ...).
Every run is cached under OUTPUT_DIR/runs. Writes OUTPUT_DIR/report.md, report.json (every pre-training with its
fine-tuning seeds) and claim<N>.png.
"""

import shlex
import sys
from pathlib import Path

from ..errors import UserError
from ..training.claims.reproduce import reproduce


def main(argv=None, *, prog: str | None = None, command: str | None = None) -> list[dict] | None:
    """The claims from a command line (or `argv`): a user's mistake ends it with one line naming the fix.
    `command`: how the report names the command that was run."""
    prog = prog or Path(sys.argv[0]).name
    argv = sys.argv[1:] if argv is None else list(argv)
    if {"-h", "--help"} & set(argv):
        print(__doc__)
        return None
    try:
        return reproduce(argv, command=f"{command or prog} {shlex.join(argv)}", prog=prog)
    except UserError as err:
        sys.exit(f"{prog}: error: {err}")


if __name__ == "__main__":
    main()
