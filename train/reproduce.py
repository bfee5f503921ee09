"""The paper's four claims, each answered by one command, with a verdict.

    python train/reproduce.py --output_dir runs/paper-mini --jobs 2            # the default plan (~90 min, 2 cores)
    python train/reproduce.py --output_dir runs/paper-mini --dry_run           # the runs and a time estimate
    python train/reproduce.py --claims 4 --output_dir runs/paper-mini          # one claim
    python train/reproduce.py --latency_only --output_dir runs/latency         # claim 4's latency, no training
    python train/reproduce.py --config train/configs/paper-mini/claims-gpu.yaml --output_dir runs/paper-gpu

1. pre-training pays off: the mean gap (pre-trained - scratch twin) over the pre-trainings of the largest W_s;
2. the gap grows with W_s: the slope of the pre-trainings' gaps against log10 W_s;
3. the gap shrinks as task tokens go missing: the slope against the share of the task's tokens absent from W_s;
4. a soft committee of 1-block members matches a 6-block model, and is faster side by side.

Claims 1 and 2 carry a control: each pre-training repeated on word-shuffled paragraphs. The config (default
train/configs/paper-mini/claims.yaml) is an experiment config with a `claims:` mapping; any other flag is a
setting of that experiment (--jobs 2, --dry_run, --seeds, --pretrain_seeds, ...). Every run is cached under
OUTPUT_DIR/runs. Writes OUTPUT_DIR/report.md, report.json (every pre-training with its fine-tuning seeds) and
claim<N>.png. The work is tlm_hf.training.claims.reproduce; this is its command line.
"""

import sys
from pathlib import Path

from tlm_hf.training.claims.reproduce import main

SCRIPTS = Path(__file__).resolve().parent
CONFIG = SCRIPTS / "configs" / "paper-mini" / "claims.yaml"

if __name__ == "__main__":
    argv = sys.argv[1:]
    if {"-h", "--help"} & set(argv):
        sys.exit(print(__doc__))
    main(argv if "--config" in argv else ["--config", str(CONFIG), *argv], scripts=SCRIPTS,
         prog="reproduce.py", command="python train/reproduce.py")
