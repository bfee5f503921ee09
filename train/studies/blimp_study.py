"""BLiMP of pre-trained models: along their steps, over seeds and rows, beside floors and the fine-tuning gap.

    python train/studies/blimp_study.py runs/blimp/fast-ws10000-s0 runs/blimp/fast-ws10000-s1 runs/blimp/fast-ws10000-s2 \\
        --rows runs/quick/results.json --pairs_per_paradigm 100 --output_dir runs/blimp-study

RUNS are pre-training folders. Each is scored at its end on `--pairs_per_paradigm` pairs of every paradigm; its
curve is read from its own log when it was pre-trained with `--blimp_pairs_per_paradigm` (a score at every held-out
evaluation), or scored on its kept checkpoints with `--curve_pairs_per_paradigm`. Runs whose settings differ only in
their seed form a series, summarised by mean and standard deviation over seeds. Floors: the same architecture with
random weights (`--random_seeds`) and a unigram model (each sentence scored by its tokens' frequencies in the
bundled WikiText-2 train paragraphs, in the run's vocabulary), both for the first run of each series.

`--rows` takes an experiment's results.json (train/experiment.py) or a report.json (train/reproduce.py): the
pre-trained model of each row is scored too, next to the row's held-out context gain and fine-tuning gap, and the
study gives the correlation (Pearson r) of BLiMP with each across the rows of each file (and of all files together).
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from tlm_hf.data.corpus import load_paragraphs
from tlm_hf.errors import SettingsError, UserError
from tlm_hf.evaluation.blimp import (
    evaluate_blimp,
    load_blimp,
    load_masked_lm,
    published_scores,
    summarise,
    unigram_pairs,
)
from tlm_hf.training.experiments import _mean_std
from tlm_hf.training.mlm import pretraining_stats
from tlm_hf.settings import refuse_repeats
from tlm_hf.training.runs import atomic_write, read_json, write_json

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("runs", nargs="*", type=Path, help="pre-training run folders (train/pretrain.py --output_dir)")
parser.add_argument("--rows", nargs="*", type=Path, default=[],
                    help="results.json of train/experiment.py or report.json of train/reproduce.py")
parser.add_argument("--data", default="sample:blimp")
parser.add_argument("--pairs_per_paradigm", type=int, default=100)
parser.add_argument("--curve_pairs_per_paradigm", type=int, default=0,
                    help="score the kept checkpoints on this many pairs per paradigm (0: only the curve the log holds)")
parser.add_argument("--random_seeds", type=int, nargs="*", default=[0, 1, 2])
parser.add_argument("--pll", default="word-l2r")
parser.add_argument("--output_dir", type=Path, required=True)
args = parser.parse_args()
if not args.runs and not args.rows:
    parser.error("give pre-training run folders, --rows, or both")


def report_rows(source: Path) -> list[dict]:
    """The rows of an experiment's results.json or a reproduce.py report.json, each with its pre-training folder;
    any other file (a fine-tuning's results.json) is refused in one line naming it."""
    report = read_json(source)
    if isinstance(report, dict) and "claims" in report:  # train/reproduce.py: every claim's rows, each pre-training once
        rows = [row for claim in report["claims"] for row in claim.get("rows", [])
                if row.get("pretraining_dir") and row.get("gap")]
        rows = list({row["pretraining_dir"]: row for row in rows}.values())
        return [{"run": Path(r["pretraining_dir"]), "subset": r["subset"], "W_s": r["W_s"],
                 "context_gain": r["context_gain"], "gap": r["gap"]["value"]} for r in rows]
    columns = ("subset", "W_s", "context_gain", "gap")
    if not isinstance(report, list) or not all(isinstance(r, dict) and set(columns) <= set(r) for r in report):
        held = (f"keys {', '.join(list(report)[:6])}" if isinstance(report, dict)
                else f"a {type(report).__name__}" if not isinstance(report, list) else "rows without " + ", ".join(columns))
        raise SettingsError(f"{source} is neither an experiment's results.json (rows with {', '.join(columns)}) nor "
                            f"a train/reproduce.py report.json (it holds {held}); give one of those to --rows")
    rows = []  # train/experiment.py: the row's pre-training folder is OUTPUT/pretrain/{subset}-ws{W_s}-{key}
    for r in report:
        found = sorted((source.parent / "pretrain").glob(f"{r['subset']}-ws{r['W_s']}-*"))
        if len(found) != 1:
            raise SettingsError(f"{source}: {len(found)} pre-training folders for row {r['subset']} W_s={r['W_s']} "
                                f"under {source.parent / 'pretrain'}; expected one")
        rows.append({"run": found[0], "subset": r["subset"], "W_s": r["W_s"], "context_gain": r["context_gain"],
                     "gap": r["gap"]})
    return rows


try:  # every file checked before the first model is scored
    for name, values in (("runs", args.runs), ("--rows", args.rows), ("--random_seeds", args.random_seeds)):
        refuse_repeats(name, values)  # a run, a file or a seed given twice would count twice in a mean or an r
    rows_of = {source: report_rows(source) for source in args.rows}
    fix = "give a pre-training run's folder (train/pretrain.py --output_dir)"
    run_files = {run: (read_json(run / "pretraining_stats.json", fix=fix), read_json(run / "run_config.json", fix=fix))
                 for run in args.runs}
    pairs = load_blimp(args.data, pairs_per_paradigm=args.pairs_per_paradigm)
    curve_pairs = (load_blimp(args.data, pairs_per_paradigm=args.curve_pairs_per_paradigm)
                   if args.curve_pairs_per_paradigm else [])
except UserError as err:
    sys.exit(f"blimp_study.py: error: {err}")
published = published_scores(pairs)
start_all = time.perf_counter()
scores, curves, floors, row_scores = [], [], [], []  # study.json's four tables


def score(model, tokenizer, which) -> dict:
    start = time.perf_counter()
    result = evaluate_blimp(model, tokenizer, which, variant=args.pll)
    return {**result, "seconds": time.perf_counter() - start}


def checkpoints_of(run: Path) -> list[tuple[int, Path]]:
    """(step, folder) of the run's kept checkpoints, oldest first."""
    found = ((int(p.name.split("-")[1]), p) for p in (run / "checkpoints").glob("checkpoint-*"))
    return sorted(found, key=lambda step_folder: step_folder[0])


def series_of(config: dict) -> str:
    """A run's settings (run_config.json's, merged) without its seed: runs that differ only in it share a series."""
    return json.dumps({k: v for k, v in config.items() if k != "seed"}, sort_keys=True)


def short(result: dict) -> dict:
    return {"overall": result["overall"], "pairs": result["pairs"], "fields": result["fields"],
            "phenomena": result["phenomena"], "seconds": result.get("seconds")}


# -- the runs: final score, curve over steps, floors once per series ---------------------------------------------
series = {}  # series key -> [run names]
wikitext = load_paragraphs("sample:wikitext2", where={"split": "train"}, normalize_wikitext=True) if args.runs else None
for run, (stats, config) in run_files.items():
    config = {**config["settings"], **config["training"]}
    key = series_of(config)
    first_of_series = key not in series
    series.setdefault(key, []).append(run.name)
    model, tokenizer = load_masked_lm(str(run))
    result = score(model, tokenizer, pairs)
    scores.append({"run": run.name, "series": key, "recipe": config.get("recipe"), "seed": config.get("seed"),
                   "W_s": stats["W_s"], "step": stats["global_step"], "context_gain": stats.get("context_gain"),
                   **short(result)})
    print(f"{run.name}: BLiMP {100 * result['overall']:.1f} on {result['pairs']:,} pairs at step "
          f"{stats['global_step']} ({result['seconds']:.0f} s)", flush=True)
    checkpoints = checkpoints_of(run)  # the newest holds Trainer's whole log history
    log = read_json(checkpoints[-1][1] / "trainer_state.json")["log_history"] if checkpoints else []
    gain_at = {e["step"]: e["eval_context_gain"] for e in log if "eval_context_gain" in e}
    for entry in log:  # scored while pre-training (--blimp_pairs_per_paradigm)
        if entry.get("eval_blimp_overall") is not None:
            curves.append({"run": run.name, "series": key, "step": entry["step"], "source": "log",
                           "pairs": stats.get("blimp_pairs"), "context_gain": gain_at.get(entry["step"]),
                           "overall": entry["eval_blimp_overall"]})
    for step, checkpoint in checkpoints if curve_pairs else []:
        result = score(load_masked_lm(str(checkpoint))[0], tokenizer, curve_pairs)
        curves.append({"run": run.name, "series": key, "step": step, "source": "checkpoint", "pairs": result["pairs"],
                       "context_gain": gain_at.get(step), "overall": result["overall"]})
    if first_of_series:
        for seed in args.random_seeds:
            result = score(load_masked_lm(str(run), random_init=True, seed=seed)[0], tokenizer, pairs)
            floors.append({"run": run.name, "model": f"random weights (seed {seed})", **short(result)})
            print(f"{run.name} random weights (seed {seed}): BLiMP {100 * result['overall']:.1f}", flush=True)
        _, counts = pretraining_stats(wikitext, None, tokenizer)
        floors.append({"run": run.name, "model": "unigram (WikiText-2 train frequencies)",
                       **short(summarise(pairs, unigram_pairs(tokenizer, counts, pairs)))})

# -- the rows of experiments: BLiMP next to context gain and gap -------------------------------------------------
for source, rows in rows_of.items():
    for row in rows:
        model, tokenizer = load_masked_lm(str(row["run"]))
        result = score(model, tokenizer, pairs)
        row_scores.append({**row, "run": row["run"].name, "source": str(source), **short(result)})
        print(f"{source} {row['subset']} W_s={row['W_s']:,}: BLiMP {100 * result['overall']:.1f}, context gain "
              f"{row['context_gain']:+.2f}, gap {row['gap']:+.3f}", flush=True)


def pearson(xs, ys):
    return statistics.correlation(xs, ys) if len(xs) > 2 and len(set(xs)) > 1 and len(set(ys)) > 1 else None


def correlate(rows: list[dict]) -> dict:
    blimp, gain, gap = ([r[k] for r in rows] for k in ("overall", "context_gain", "gap"))
    return {"rows": len(rows), "blimp_vs_context_gain": pearson(blimp, gain), "blimp_vs_gap": pearson(blimp, gap),
            "context_gain_vs_gap": pearson(gain, gap)}


# per file (rows of one experiment share their fine-tuning sizes and steps), and over all rows together
correlations = {source: correlate([r for r in row_scores if r["source"] == source])
                for source in dict.fromkeys(r["source"] for r in row_scores)}
if len(correlations) > 1:
    correlations["all rows"] = correlate(row_scores)

# -- study.json and study.md -------------------------------------------------------------------------------------
summary = []
for key, names in series.items():
    final_mean, final_std = _mean_std([s["overall"] for s in scores if s["series"] == key])
    steps = sorted({c["step"] for c in curves if c["series"] == key})
    curve = [(step, [c["overall"] for c in curves if c["series"] == key and c["step"] == step]) for step in steps]
    summary.append({"runs": names, "final_mean": final_mean, "final_std": final_std,
                    "curve": [dict(zip(("step", "mean", "std", "n"), (step, *_mean_std(values), len(values))))
                              for step, values in curve]})
write_json(args.output_dir / "study.json", {
    "pll": args.pll, "data": args.data, "pairs_per_paradigm": args.pairs_per_paradigm, "scores": scores,
    "curves": curves, "floors": floors, "series": summary, "rows": row_scores, "correlations": correlations,
    "published": published, "seconds": time.perf_counter() - start_all})


def pct(value) -> str:
    return "-" if value is None else f"{100 * value:.1f}"


def fields(result) -> str:
    return " | ".join(pct(result["fields"].get(name)) for name in ("morphology", "syntax", "syntax_semantics", "semantics"))


lines = [f"BLiMP ({args.pll} PLL, {len(pairs):,} pairs: {args.pairs_per_paradigm} per paradigm of {args.data}), "
         "mean over paradigms, in %.", ""]
if scores or floors:
    lines += ["| model | step | context gain | BLiMP | morphology | syntax | syntax-semantics | semantics |",
              "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {s['run']} | {s['step']:,} | {s['context_gain']:+.2f} | {pct(s['overall'])} | {fields(s)} |" for s in scores]
    lines += [f"| {f['model']} ({f['run']}) | | | {pct(f['overall'])} | {fields(f)} |" for f in floors]
    lines.append("")
for s in summary:
    if len(s["runs"]) > 1 or s["curve"]:
        lines.append(f"Series {', '.join(s['runs'])}: final BLiMP {pct(s['final_mean'])} ± {pct(s['final_std'])} "
                     f"(n = {len(s['runs'])}); along the steps: " + ", ".join(
                         f"{c['step']:,}: {pct(c['mean'])} ± {pct(c['std'])}" for c in s["curve"]) + ".")
if row_scores:
    lines += ["", "| row | W_s | context gain | gap | BLiMP |", "| --- | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['subset']} ({r['run']}) | {r['W_s']:,} | {r['context_gain']:+.2f} | "
              f"{r['gap']:+.3f} | {pct(r['overall'])} |" for r in row_scores]
    lines.append("")
    for source, c in correlations.items():
        r = {name: "-" if value is None else f"{value:+.2f}" for name, value in c.items() if name != "rows"}
        lines.append(f"{source}, {c['rows']} rows, Pearson r: BLiMP vs context gain {r['blimp_vs_context_gain']}, "
                     f"BLiMP vs gap {r['blimp_vs_gap']}, context gain vs gap {r['context_gain_vs_gap']}.")
if scores and floors:  # which phenomena the runs learnt: their mean against the floors and the published 5-gram
    ngram = published["ngram"]["phenomena"]
    random_floor = [f for f in floors if f["model"].startswith("random")]
    unigram = next((f for f in floors if f["model"].startswith("unigram")), None)

    def mean_of(results: list[dict], name: str):
        return statistics.fmean(x["phenomena"][name] for x in results) if results else None

    lines += ["", "| phenomenon | the runs (mean) | random weights (mean) | unigram | 5-gram (published) |",
              "| --- | ---: | ---: | ---: | ---: |"]
    for name in scores[0]["phenomena"]:
        lines.append(f"| {name} | {pct(mean_of(scores, name))} | {pct(mean_of(random_floor, name))} | "
                     f"{pct(unigram['phenomena'][name] if unigram else None)} | {pct(ngram.get(name))} |")
atomic_write(args.output_dir / "study.md", "\n".join(lines) + "\n")
print("\n".join(lines))
print(json.dumps({"wrote": str(args.output_dir / "study.json")}))
