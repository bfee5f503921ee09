"""The paper's four claims, each answered by one command, with a verdict.

    python train/reproduce.py --output_dir runs/paper-mini --jobs 2            # the default plan (~70 min, 2-core Zen 4)
    python train/reproduce.py --output_dir runs/paper-mini --dry_run           # the runs and a time estimate
    python train/reproduce.py --claims 4 --output_dir runs/paper-mini          # one claim
    python train/reproduce.py --latency_only --output_dir runs/latency         # claim 4's latency, no training
    python train/reproduce.py --config train/configs/paper-mini/claims-gpu.yaml --output_dir runs/paper-gpu

The claims are `tlm_hf.training.claims.reproduce`, this command `tlm reproduce` (`--help` explains each claim);
the default plan is tlm_hf/training/claims/claims.yaml. Writes OUTPUT_DIR/report.md, report.json and claim<N>.png.
"""

from tlm_hf.commands.reproduce import main

if __name__ == "__main__":
    main(prog="reproduce.py", command="python train/reproduce.py")
