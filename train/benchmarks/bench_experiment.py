"""The main job's wall-clock: the quick matrix as it runs now against the sequential path it replaced, in one run.

    python train/benchmarks/bench_experiment.py --output_dir runs/bench-quick

Runs train/experiment.py on train/configs/quick.yaml twice, one after the other, each in an empty folder of its
own (so nothing is cached), nothing else should run meanwhile:
- now: the config as it is, `--jobs 2` (one thread per run, in workers that import transformers once);
- sequential: the config without its speed settings (SDPA attention, padding tokens through every layer, torch's
  dropout masks, a validation evaluation after every fine-tuning epoch), one run at a time with 2 threads and a
  Python start per run (`--jobs 1 --threads_per_run 2 --launcher <this python>`), as the main job ran before
  `--jobs` existed.
For each: the wall-clock of the whole job and of its fine-tuning part (from the end of the last pre-training to
the end) and the table's gaps; then the ratios. Writes OUTPUT_DIR/bench.md and bench.json.
"""

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path


from tlm_hf.fileio import atomic_write, write_json
from tlm_hf.training.flops import cpu_name

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "train" / "configs" / "quick.yaml"
PATHS = {
    "now": ["--jobs", "2"],
    "sequential": ["--attn_implementation", "sdpa", "--unpad_tokens", "false", "--fast_dropout", "false",
                   "--finetune_args", "", "--jobs", "1", "--threads_per_run", "2", "--launcher", sys.executable],
}
PRETRAINING_DONE = re.compile(r"^\[done\] \d+/\d+ pre-training ")
def run_path(name: str, folder: Path, config: Path) -> dict:
    """train/experiment.py along `name`'s path; its wall-clock, fine-tuning part and gaps."""
    command = [sys.executable, str(REPO / "train" / "experiment.py"), "--config", str(config), "--output_dir",
               str(folder), *PATHS[name]]
    print(f"[{name}] {' '.join(command)}", flush=True)
    start = time.monotonic()
    last_pretraining = None
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO) as job:
        for line in job.stdout:
            print(f"[{name}] {line}", end="", flush=True)
            if PRETRAINING_DONE.match(line):
                last_pretraining = time.monotonic()
    seconds = time.monotonic() - start
    if job.returncode:
        sys.exit(f"bench_experiment.py: error: the {name} path failed (exit {job.returncode}); see its lines above")
    rows = json.loads((folder / "results.json").read_text())
    return {"path": name, "command": " ".join(command[1:]), "seconds": seconds,
            "finetuning_seconds": seconds - last_pretraining + start if last_pretraining else None,
            "gaps": {str(row["W_s"]): row["gap"] for row in rows},
            "accuracy": {str(row["W_s"]): [row["acc_pretrained_mean"], row["acc_scratch_mean"]] for row in rows}}


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {round(seconds % 60):02d} s"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output_dir", required=True, help="a new or empty folder; each path runs in a subfolder")
    parser.add_argument("--config", default=str(CONFIG), help="the experiment (default: the README's main job)")
    parser.add_argument("--paths", nargs="+", default=list(PATHS), choices=list(PATHS), help="which, in this order")
    args = parser.parse_args(argv)
    out = Path(args.output_dir)
    if out.exists() and any(out.iterdir()):
        parser.error(f"{out} is not empty: the timings need runs from scratch; give a new --output_dir")

    results = [run_path(name, out / name, Path(args.config)) for name in args.paths]
    lines = [f"{cpu_name()}, {Path(args.config).name}", "",
             "| path | wall-clock | fine-tuning part | gaps (W_s: gap) |", "| --- | --- | --- | --- |"]
    for r in results:
        gaps = ", ".join(f"{int(w_s):,}: {gap:+.3f}" for w_s, gap in r["gaps"].items())
        part = minutes(r["finetuning_seconds"]) if r["finetuning_seconds"] else "-"
        lines.append(f"| {r['path']} | {minutes(r['seconds'])} | {part} | {gaps} |")
    if len(results) == 2:
        first, second = results
        lines += ["", f"{second['path']} / {first['path']}: whole job {second['seconds'] / first['seconds']:.2f}x"
                  + (f", fine-tuning part {second['finetuning_seconds'] / first['finetuning_seconds']:.2f}x"
                     if first["finetuning_seconds"] and second["finetuning_seconds"] else "")]
    report = "\n".join(lines) + "\n"
    print(report)

    write_json(out / "bench.json", {"cpu": cpu_name(), "paths": results})
    atomic_write(out / "bench.md", report)


if __name__ == "__main__":
    main()
