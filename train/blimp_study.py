"""BLiMP of pre-trained runs along their steps, beside random twins and a unigram floor (the table of docs/blimp.md).

    python train/blimp_study.py runs/ws5000 runs/ws10000 --pairs_per_paradigm 100 --curve_pairs_per_paradigm 20 \
        --output_dir runs/blimp-study

For each pre-training run folder: the final model on `--pairs_per_paradigm` pairs of every paradigm; each checkpoint
under RUN/checkpoints on `--curve_pairs_per_paradigm` pairs, next to the held-out context gain logged at that step;
the same architecture with random weights (`--random_seeds`); and the unigram floor, which scores a sentence by its
tokens' frequencies in the bundled WikiText-2 train paragraphs (in the run's vocabulary). Writes study.json
(every score, per field and phenomenon too) and study.md.
"""

import argparse
import json
import time
from pathlib import Path

from tlm_hf.data.corpus import load_paragraphs
from tlm_hf.evaluation.blimp import (
    evaluate_blimp,
    load_blimp,
    load_masked_lm,
    published_scores,
    summarise,
    unigram_pairs,
)
from tlm_hf.training.mlm import pretraining_stats
from tlm_hf.training.runs import atomic_write, read_json, write_json

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("runs", nargs="+", help="pre-training run folders (train/pretrain.py --output_dir)")
parser.add_argument("--data", default="sample:blimp")
parser.add_argument("--pairs_per_paradigm", type=int, default=100)
parser.add_argument("--curve_pairs_per_paradigm", type=int, default=20, help="for the checkpoints; 0: none")
parser.add_argument("--random_seeds", type=int, nargs="*", default=[0, 1, 2])
parser.add_argument("--pll", default="word-l2r")
parser.add_argument("--output_dir", type=Path, required=True)
args = parser.parse_args()

pairs = load_blimp(args.data, pairs_per_paradigm=args.pairs_per_paradigm)
curve_pairs = load_blimp(args.data, pairs_per_paradigm=args.curve_pairs_per_paradigm) if args.curve_pairs_per_paradigm else []
wikitext = load_paragraphs("sample:wikitext2", where={"split": "train"}, normalize_wikitext=True)
rows = []


def record(run, model_name, result, **extra):
    row = {"run": run, "model": model_name, **extra, "overall": result["overall"], "pairs": result["pairs"],
           "fields": result["fields"], "phenomena": result["phenomena"], "seconds": result.get("seconds")}
    rows.append(row)
    print(f"{run} {model_name}: BLiMP {100 * result['overall']:.1f} on {result['pairs']:,} pairs "
          f"({result.get('seconds', 0):.0f} s)", flush=True)


for run in map(Path, args.runs):
    stats = read_json(run / "pretraining_stats.json")
    checkpoints = sorted((run / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    # the held-out context gain at each evaluation step, from the newest checkpoint's log
    log = read_json(checkpoints[-1] / "trainer_state.json")["log_history"] if checkpoints else []
    gain_at = {entry["step"]: entry["eval_context_gain"] for entry in log if "eval_context_gain" in entry}

    model, tokenizer = load_masked_lm(str(run))
    record(run.name, "final", evaluate_blimp(model, tokenizer, pairs, variant=args.pll),
           step=stats["global_step"], context_gain=stats.get("context_gain"), W_s=stats["W_s"])
    for checkpoint in checkpoints if curve_pairs else []:
        step = int(checkpoint.name.split("-")[1])
        model, _ = load_masked_lm(str(checkpoint))
        record(run.name, f"step {step}", evaluate_blimp(model, tokenizer, curve_pairs, variant=args.pll), step=step,
               context_gain=gain_at.get(step), W_s=stats["W_s"])
    for seed in args.random_seeds:
        model, _ = load_masked_lm(str(run), random_init=True, seed=seed)
        record(run.name, f"random init (seed {seed})", evaluate_blimp(model, tokenizer, pairs, variant=args.pll),
               step=0, W_s=stats["W_s"])
    start = time.perf_counter()
    _, counts = pretraining_stats(wikitext, None, tokenizer)
    floor = summarise(pairs, unigram_pairs(tokenizer, counts, pairs))
    record(run.name, "unigram", {**floor, "seconds": time.perf_counter() - start}, W_s=stats["W_s"])

args.output_dir.mkdir(parents=True, exist_ok=True)
write_json(args.output_dir / "study.json", {"pll": args.pll, "data": args.data, "rows": rows,
                                             "published": published_scores(pairs)})
lines = ["| run | model | step | context gain | BLiMP (%) | pairs | morphology | syntax | syntax_semantics | semantics |",
         "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
for row in rows:
    gain = "" if row.get("context_gain") is None else f"{row['context_gain']:+.2f}"
    fields = " | ".join(f"{100 * row['fields'].get(name, float('nan')):.1f}"
                        for name in ("morphology", "syntax", "syntax_semantics", "semantics"))
    lines.append(f"| {row['run']} | {row['model']} | {row.get('step', '')} | {gain} | {100 * row['overall']:.1f} | "
                 f"{row['pairs']:,} | {fields} |")
atomic_write(args.output_dir / "study.md", "\n".join(lines) + "\n")
print("\n".join(lines))
print(json.dumps({"wrote": str(args.output_dir / "study.json")}))
