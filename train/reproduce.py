"""The paper's four claims, each answered on a laptop by one command, with a verdict.

    python train/reproduce.py --claims 1 2 3 4 --output_dir runs/paper-mini
    python train/reproduce.py --claims 1 2 --output_dir runs/paper-mini --seeds 0 1 2 3 4
    python train/reproduce.py --claims 1 2 --output_dir runs/paper-agnews --task ag_news \
        --task_data train=../shared/data/ag_news/train_partial.jsonl.gz,test=../shared/data/ag_news/test.jsonl.gz \
        --train_per_label 1000 --test_per_label 1000 --validation_per_label 100

1. pre-training pays off: the per-seed gap (pre-trained - scratch accuracy) at the largest W_s;
2. the gap grows with W_s: its slope against log10 W_s over every row;
3. the gap shrinks as task tokens go missing: its slope against the share of the task's bert-base-uncased tokens
   absent from W_s, for avoid subsets at a fixed W_s beside a random one (frequency-weighted coverage and the
   unigram Jensen-Shannon divergence beside T_M);
4. a soft committee of 1-block members matches a 6-block model of the same width, at lower latency (batch 1
   and 32, interleaved repeats); and Table 9's committee of members without pre-training.

The settings every claim shares are one experiment config (default train/configs/paper-mini/claims.yaml, which
is claims 1 and 2's); claims 3 and 4 are derived from it. Every run is cached under OUTPUT_DIR/runs (a rerun or
an interrupted report reuses it). Any other flag is a setting of that experiment (e.g. --jobs 2 for two runs at
a time on 2 cores, --dry_run, --seeds, --pretrain_args, --config_overrides, --w_s). Writes OUTPUT_DIR/report.md, report.json (every number) and claim<N>.png.
"""

import argparse
import dataclasses
import math
import os
import platform
import runpy
import shlex
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from tlm_hf.arguments import parse_settings
from tlm_hf.errors import UserError
from tlm_hf.settings import EXPERIMENT_SETTINGS, SettingsError, parse_key_values, refuse_repeats
from tlm_hf.training import claims as rule
from tlm_hf.training.experiments import plan_experiment
from tlm_hf.training.launch import run_plan

SCRIPTS = Path(__file__).resolve().parent
CONFIG = SCRIPTS / "configs" / "paper-mini" / "claims.yaml"
# Claim 4: the deep model and the committee's members, the config fields they change on the shared model (the
# paper's BERT-6 and BERT-1 shapes at the tiny width: Table 8's members with 8 channels instead of 32-64).
DEEP = ("deep: 6 blocks", "num_hidden_layers=6")
MEMBERS = (
    ("member: 1 block", "num_hidden_layers=1"),
    ("member: 1 block + 2 CLs (d 8, 3x3)", "num_hidden_layers=1,num_conv_layers=2,conv_channels=8,conv_kernel_size=3"),
    ("member: 1 block + 1 CL (d 8, 5x5)", "num_hidden_layers=1,num_conv_layers=1,conv_channels=8,conv_kernel_size=5"),
)
# The paper's numbers (BERT-6, bert-base-uncased vocabulary, Wikipedia, 50 epochs, >= 5 runs per point).
PAPER_ACCURACY = {  # W_s -> accuracy; 0 = without pre-training
    "dbpedia_14": ("Table 6, DBpedia-14, 100 train / 100 test per label", {0: 0.938, 5000: 0.957, 10000: 0.972,
                                                                           20000: 0.979, 90000: 0.984}),
    "ag_news": ("Table 5, AG News, 1,000 train / 1,000 test per label", {0: 0.840, 2000: 0.854, 5000: 0.861,
                                                                         40000: 0.878, 90000: 0.891}),
}
# Margins (the smallest effect that matters), fixed before any run: 1 point of accuracy; 1 point per tenfold W_s;
# 0.5 point per 10% of the task's tokens missing; 10% of latency (in log ratio).
MARGIN_ACCURACY, MARGIN_PER_DECADE, MARGIN_PER_MISSING_SHARE, MARGIN_LOG_LATENCY = 0.01, 0.01, 0.05, math.log(1.1)


def derived(exp, model, *, w_s, subset="random", avoid_fraction=None, shape=None):
    """The shared experiment narrowed to one row (and, for claim 4, one model shape)."""
    exp = replace(exp, w_s=[str(w_s)], subset=[subset], avoid_fraction=avoid_fraction or exp.avoid_fraction)
    if shape:
        fields = {**parse_key_values(model.config_overrides, setting="config_overrides"),
                  **parse_key_values(shape, setting="config_overrides")}
        model = replace(model, config_overrides=",".join(f"{k}={v}" for k, v in fields.items()))
    return exp, model


def measure_latency(deep, members, *, vocab_size: int, seq_len: int, repeats: int, threads: int) -> dict:
    """{batch: the log latency ratio committee / deep judged by the rule, with both models' ms per repeat}, at
    batch 1 and 32 on this CPU, repeats interleaved (train/bench_latency.py's measure).

    Both get the same `threads`, and the committee runs its members one after another: the ratio compares work,
    not how many cores a committee could spread over (on a shared machine, threads that wait for each other
    inflate latencies unevenly)."""
    from tlm_hf import SoftCommitteeForSequenceClassification

    measure = runpy.run_path(str(SCRIPTS / "bench_latency.py"), run_name="bench_latency")["measure"]  # a script

    committee = SoftCommitteeForSequenceClassification.from_members(
        members, batch_identical_members=False, concurrent_members=False)
    subjects = [dict(name="deep", model=deep.eval()), dict(name="committee", model=committee.eval())]
    latency, before = {}, torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for batch_size in (1, 32):
            times = measure(subjects, batch_size, seq_len, 2, repeats, torch.device("cpu"), vocab_size=vocab_size)
            log_ratios = [math.log(c / d) for c, d in zip(times["committee"], times["deep"])]
            judged = rule.judge(rule.mean_interval(log_ratios), direction=-1, threshold=0.0, margin=MARGIN_LOG_LATENCY)
            latency[batch_size] = {"deep_ms": times["deep"], "committee_ms": times["committee"], **judged}
    finally:
        torch.set_num_threads(before)
    return latency


def latency_markdown_table(latency: dict, title: str) -> dict:
    def p50(values):
        return sorted(values)[len(values) // 2]

    return {"title": title, "columns": ["batch", "deep p50 ms", "committee p50 ms", "committee / deep (geometric "
                                        "mean) [95% CI]", "verdict"],
            "rows": [[b, f"{p50(v['deep_ms']):.1f}", f"{p50(v['committee_ms']):.1f}",
                      f"{math.exp(v['value']):.2f} [{math.exp(v['low']):.2f}, {math.exp(v['high']):.2f}]",
                      v["verdict"]] for b, v in latency.items()]}


# -- the command line: this script's flags, and any setting of the shared experiment ---------------------------
parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--claims", type=int, nargs="+", choices=[1, 2, 3, 4], default=[1, 2, 3, 4])
parser.add_argument("--output_dir", required=True)
parser.add_argument("--config", default=str(CONFIG), help="the shared experiment settings (train/experiment.py's)")
# Claim 3 at W_s = 2,000: the least common task tokens are mostly absent from a random W_s already, so avoiding them
# raises T_M only past that share (DBpedia-14, bundled sample: random 2,000 misses 32% of the task's bert-base-uncased
# tokens, avoid 0.3 40%, avoid 0.5 58%; at W_s = 5,000, avoid 0.2 moves T_M from 21% to 22%, and fewer than 5,000
# paragraphs avoid 0.4).
parser.add_argument("--claim3_w_s", type=int, default=2000, help="claim 3's fixed W_s")
parser.add_argument("--avoid_fractions", type=float, nargs="+", default=[0.3, 0.5],
                    help="claim 3: shares of the task's tokens kept out of W_s, one avoid subset each")
parser.add_argument("--claim4_w_s", type=int, default=5000, help="claim 4's W_s (deep model and members)")
parser.add_argument("--latency_repeats", type=int, default=10)
parser.add_argument("--latency_threads", type=int, default=1, help="CPU threads of each model when timing")
parser.add_argument("--latency_only", action="store_true",
                    help="claim 4's latency part alone, with random weights (latency does not depend on them): "
                         "no training; writes OUTPUT_DIR/latency.json")


def main(argv=None):
    args, experiment_flags = parser.parse_known_args(argv)
    out = Path(args.output_dir)
    command = "python train/reproduce.py " + shlex.join(sys.argv[1:] if argv is None else argv)

    try:
        for name in ("latency_repeats", "latency_threads"):  # the latency's mean needs at least one of each
            if getattr(args, name) < 1:
                raise SettingsError(f"{name} {getattr(args, name)} is out of range; it must be >= 1")
        refuse_repeats("avoid_fractions", args.avoid_fractions)  # each is a row of claim 3's slope
        exp, corpus, task, model, tokenizer = parse_settings(
            EXPERIMENT_SETTINGS, ["--config", args.config, *experiment_flags, "--output_dir", str(out / "runs")],
            prog="reproduce.py")
        if len(exp.seeds) < rule.MIN_SEEDS:
            print(f"note: {len(exp.seeds)} seeds; every verdict needs {rule.MIN_SEEDS} and will read 'inconclusive'")
        plans = {}  # claim group -> {name: plan}
        if {1, 2} & set(args.claims):
            plans["1-2"] = {"rows": plan_experiment(exp, corpus, task, model, tokenizer)}
        if 3 in args.claims:
            plans["3"] = {"random": plan_experiment(derived(exp, model, w_s=args.claim3_w_s)[0], corpus, task, model,
                                                    tokenizer)}
            for fraction in args.avoid_fractions:
                plans["3"][f"avoid {fraction:g}"] = plan_experiment(
                    derived(exp, model, w_s=args.claim3_w_s, subset="avoid", avoid_fraction=fraction)[0], corpus, task,
                    model, tokenizer)
        if 4 in args.claims:
            plans["4"] = {}
            for name, shape in (DEEP, *MEMBERS):
                narrowed, shaped = derived(exp, model, w_s=args.claim4_w_s, shape=shape)
                plans["4"][name] = plan_experiment(narrowed, corpus, task, shaped, tokenizer)
    except UserError as err:
        sys.exit(f"reproduce.py: error: {err}")

    if args.latency_only:
        from tlm_hf import ConvBertConfig, ConvBertForSequenceClassification
        from tlm_hf.training.recipes import get_recipe
        from tlm_hf.training.runs import write_json

        vocab_size = get_recipe(exp.recipe).pretraining.get("wordpiece_vocab_size") or 30522

        def random_classifier(shape):
            shaped = derived(exp, model, w_s=args.claim4_w_s, shape=shape)[1]
            stand_ins = dict(pad_token_id=0, cls_token_id=1, sep_token_id=2, mask_token_id=3, num_labels=14)
            config = ConvBertConfig.from_preset(shaped.preset, vocab_size=vocab_size, **stand_ins, **shaped.overrides())
            return ConvBertForSequenceClassification(config)

        latency = measure_latency(random_classifier(DEEP[1]), [random_classifier(s) for _, s in MEMBERS],
                                  vocab_size=vocab_size, seq_len=model.max_length, repeats=args.latency_repeats,
                                  threads=args.latency_threads)
        table = latency_markdown_table(
            latency, f"{DEEP[0]} against a soft committee of {len(MEMBERS)} members "
                     f"({'; '.join(n for n, _ in MEMBERS)}), random weights, over {model.config_overrides}; "
                     f"{args.latency_threads} thread(s), members one after another, sequence "
                     f"{model.max_length}, {args.latency_repeats} interleaved repeats; load average "
                     f"{os.getloadavg()[0]:.1f}")
        write_json(out / "latency.json", {"command": command, "latency": latency, "table": table})
        print(rule.markdown_table(table))
        return

    def runs_of(group: str) -> list:
        """The group's runs, each once, in starting order; the deep model of claim 4 needs no scratch arm."""
        unique = {}
        for name, plan in plans[group].items():
            for row in plan.rows:
                scratch = [] if name == DEEP[0] else row.scratch
                for run in (row.pretraining, *scratch, *row.finetunes):
                    if group == "4":  # the rows differ by model shape alone: say which one
                        run = dataclasses.replace(run, label=f"{name.split(': ')[1]}, {run.label}")
                    unique.setdefault(run.run_dir, run)
        return list(unique.values())

    def execute(runs: list) -> dict:
        """{run_dir: done file} of the runs, started unless cached, --jobs at a time (--threads_per_run each)."""
        launcher = None if exp.launcher == "python" else shlex.split(exp.launcher)
        return run_plan(runs, scripts=SCRIPTS, jobs=exp.jobs, threads=exp.threads_per_run, launcher=launcher,
                        dry_run=exp.dry_run)

    # -- the runs, claim group by claim group (cached runs are reused, and count 0 in the wall-clock) --------------
    outcomes, wall_clock = {}, {}
    try:
        for group in plans:
            start = time.perf_counter()
            outcomes.update(execute([run for run in runs_of(group) if run.run_dir not in outcomes]))  # shared rows once
            wall_clock[group] = time.perf_counter() - start
    except UserError as err:
        sys.exit(f"reproduce.py: error: {err}")
    if exp.dry_run:
        return

    # -- reading the runs ----------------------------------------------------------------------------------------

    def arm(runs) -> dict:
        """{seed: test accuracy of the chosen model} of one arm's fine-tunes."""
        return {outcomes[run.run_dir]["seed"]: outcomes[run.run_dir]["accuracy_final"] for run in runs}

    def read_row(plan_row) -> dict:
        stats = outcomes[plan_row.pretraining.run_dir]
        pre, scratch = arm(plan_row.finetunes), arm(plan_row.scratch)
        failed = {"pre-trained": rule.failed_seeds(pre), "scratch": rule.failed_seeds(scratch)}
        gaps = rule.paired_differences(pre, scratch, exclude=failed["pre-trained"] | failed["scratch"])
        return dict(
            subset=plan_row.subset, W_s=stats["W_s"], T_W=stats["T_W"], context_gain=stats.get("context_gain"),
            heldout_mlm_loss=stats.get("heldout_mlm_loss"), unigram_loss=stats.get("unigram_loss"),
            pretraining_dir=str(plan_row.pretraining.run_dir), pretrained=pre, scratch=scratch, failed=failed,
            gaps=gaps,
            gap=rule.mean_interval(gaps.values()).__dict__ if gaps else None,
            learning_rates={"pre-trained": {outcomes[r.run_dir]["seed"]: outcomes[r.run_dir].get("learning_rate")
                                            for r in plan_row.finetunes},
                            "scratch": {outcomes[r.run_dir]["seed"]: outcomes[r.run_dir].get("learning_rate")
                                        for r in plan_row.scratch}},
            # every candidate rate's validation accuracy per epoch: whether a rate failed to train, and why a gap is
            validation_curves={arm_name: {outcomes[r.run_dir]["seed"]: outcomes[r.run_dir].get("learning_rate_search")
                                          for r in runs}
                               for arm_name, runs in (("pre-trained", plan_row.finetunes),
                                                      ("scratch", plan_row.scratch))},
        )

    def failed_lines(rows: list[dict], label) -> list[str]:
        """One line per failed fine-tuning run: its row, arm, seed and accuracy."""
        keys = {"pre-trained": "pretrained", "scratch": "scratch"}
        return [f"{label(row)}, {name} arm, seed {seed}: accuracy {row[keys[name]][seed]:.3f}"
                for row in rows for name, seeds in row["failed"].items() for seed in sorted(seeds)]

    def cell(values: dict) -> str:
        return " / ".join(f"{values[s]:.3f}" for s in sorted(values)) if values else "-"

    def rates(values: dict) -> str:
        return " / ".join("-" if values[s] is None else f"{values[s]:g}" for s in sorted(values))

    def gap_cell(row: dict) -> str:
        return "-" if row["gap"] is None else rule.Estimate(**row["gap"]).text()

    def gap_bounds(rows: list[dict]) -> tuple[list, list]:
        """Each row's gap interval, for error bars (the mean where there is no interval)."""
        bound = lambda r, side: r["gap"]["value"] if math.isnan(r["gap"][side]) else r["gap"][side]  # noqa: E731
        return [bound(r, "low") for r in rows], [bound(r, "high") for r in rows]

    def mean(values: dict) -> float:
        return sum(values.values()) / len(values)

    paper_title, paper = PAPER_ACCURACY.get(task.task, ("(no paper numbers for this task)", {}))
    paper_text = (f"scratch {paper[0]:.3f}, " + ", ".join(f"W_s {w:,}: {a:.3f}" for w, a in paper.items() if w)
                  + f" ({paper_title})") if paper else paper_title
    differs_common = [
        "Model: 2 blocks of hidden 128 (about 1 M parameters) against BERT-6 (hidden 768, about 67 M): 66 times "
        "smaller, so absolute accuracies sit below the paper's.",
        "Corpus: WikiText-2 train paragraphs (10,000 in the bundled sample, 15,401 in the full mirror) against about "
        "6 million Wikipedia paragraphs: W_s stops at the corpus.",
        "Recipe: `fast` (a 4,096-token WordPiece vocabulary trained on each W_s, lr 2e-3 with warm-up, 30% masking) "
        "and "
        "the same number of pre-training steps for every W_s; the paper's recipe (lr 5.5e-5, 15% masking, 50 epochs) "
        "leaves a tiny model on the MLM plateau at this budget (the recipe study in docs/experiments.md).",
        "Fine-tuning: the learning rate is chosen per run on a validation split (not the test split) among the grid, "
        "and the chosen model's test accuracy is reported once; fewer epochs than the paper's 50.",
    ]
    report_claims, plots = [], {}
    sizes = (f"{task.train_per_label} train / {task.test_per_label} test / {task.validation_per_label} validation "
             "per label")

    # -- claims 1 and 2 ----------------------------------------------------------------------------------------------
    if "1-2" in plans:
        rows = sorted((read_row(r) for r in plans["1-2"]["rows"].rows), key=lambda r: r["W_s"])
        table = {"title": f"Ours: {task.task}, {sizes}, seeds {exp.seeds}", "columns": [
            "W_s", "T_W", "context gain", "Acc. pre-trained (per seed)", "Acc. scratch (per seed)",
            "gap: mean [95% CI] (n)", "chosen lr (pre-trained / scratch)"],
            "rows": [[f"{r['W_s']:,}", f"{r['T_W']:,}",
                      "-" if r["context_gain"] is None else f"{r['context_gain']:+.2f}",
                      cell(r["pretrained"]), cell(r["scratch"]), gap_cell(r),
                      f"{rates(r['learning_rates']['pre-trained'])}; {rates(r['learning_rates']['scratch'])}"]
                     for r in rows]}
        paper_table = {"title": f"Paper: {paper_title}", "columns": ["W_s", "Acc.", "gap"],
                       "rows": [[f"{w:,}" if w else "0 (no pre-training)", f"{a:.3f}",
                                 f"{a - paper[0]:+.3f}" if w and 0 in paper else "-"] for w, a in paper.items()]}
        failed = failed_lines(rows, lambda r: f"W_s {r['W_s']:,}")
        ws = [r["W_s"] for r in rows]
        acc_panel = {"ylabel": "test accuracy", "series": [
            {"label": "pre-trained (mean of seeds)", "x": ws, "y": [mean(r["pretrained"]) for r in rows]},
            {"label": "scratch (mean of seeds)", "x": ws, "y": [mean(r["scratch"]) for r in rows],
             "style": {"marker": "s", "linestyle": "--"}}]}
        if paper:
            paper_ws = [w for w in paper if w]
            acc_panel["series"].append({"label": f"paper, BERT-6 pre-trained ({task.task})", "x": paper_ws,
                                        "y": [paper[w] for w in paper_ws], "style": {"marker": "^", "color": "grey"}})
        with_gap = [r for r in rows if r["gap"]]
        gap_panel = {"ylabel": "gap (pre-trained - scratch)", "hline": 0, "series": [
            {"label": "mean gap, 95% CI", "x": [r["W_s"] for r in with_gap], "y": [r["gap"]["value"] for r in with_gap],
             "yerr": gap_bounds(with_gap)}]}
        if paper and 0 in paper:
            gap_panel["series"].append({"label": "paper (BERT-6)", "x": paper_ws,
                                        "y": [paper[w] - paper[0] for w in paper_ws],
                                        "style": {"marker": "^", "color": "grey"}})
        if 1 in args.claims:
            largest = rows[-1]
            estimate = rule.mean_interval(largest["gaps"].values()) if largest["gaps"] else rule.Estimate(
                math.nan, math.nan, math.nan, 0, "mean")
            plots["claim1.png"] = rule.line_plot([acc_panel, gap_panel], title=f"Claim 1: {task.task}, {sizes}",
                                                 xlabel="W_s (pre-training paragraphs)", xscale="log")
            report_claims.append(dict(
                claim=1, title="pre-training pays off at tiny scale",
                statement=f"Quantity: the paired gap (pre-trained - scratch test accuracy, same seed) at the largest "
                          f"W_s ({largest['W_s']:,}); the paper says it is above 0.",
                quantity=f"gap at W_s = {largest['W_s']:,}",
                verdict=rule.judge(estimate, direction=1, threshold=0.0, margin=MARGIN_ACCURACY),
                paper=paper_text, setting=f"{task.task}, {sizes}; W_s {', '.join(f'{w:,}' for w in ws)}; "
                                          f"{len(exp.seeds)} seeds.",
                tables=[table, paper_table], failed_runs=failed, differs=differs_common, plot="claim1.png",
                wall_clock_s=wall_clock["1-2"], rows=rows))
        if 2 in args.claims:
            points = [(math.log10(r["W_s"]), gap) for r in rows for gap in r["gaps"].values()]
            estimate = rule.slope_interval(*zip(*points)) if len({x for x, _ in points}) > 1 else rule.Estimate(
                math.nan, math.nan, math.nan, len(points), "slope")
            seeds_panel = {"ylabel": "gap per seed", "hline": 0, "series": [
                {"label": "per seed", "x": [10 ** x for x, _ in points], "y": [g for _, g in points],
                 "style": {"marker": "o", "linestyle": "none"}}]}
            if not math.isnan(estimate.value):
                x0 = sum(x for x, _ in points) / len(points)
                y0 = sum(g for _, g in points) / len(points)
                seeds_panel["series"].append({"label": f"slope {estimate.value:+.3f} per tenfold W_s",
                                              "x": ws, "y": [y0 + estimate.value * (math.log10(w) - x0) for w in ws],
                                              "style": {"linestyle": "-", "color": "C3"}})
            plots["claim2.png"] = rule.line_plot([gap_panel, seeds_panel], title=f"Claim 2: {task.task}, {sizes}",
                                                 xlabel="W_s (pre-training paragraphs)", xscale="log")
            report_claims.append(dict(
                claim=2, title="the gap grows with W_s",
                statement="Quantity: the least-squares slope of the per-seed gap against log10 W_s, over every (row, "
                          "seed) point; the paper says it is above 0 (Tables 3, 5, 6).",
                quantity="slope of the gap per tenfold W_s",
                verdict=rule.judge(estimate, direction=1, threshold=0.0, margin=MARGIN_PER_DECADE,
                                   seeds=len(exp.seeds)),
                paper=paper_text, setting=f"the rows of claim 1 ({len(rows)} W_s, {len(exp.seeds)} seeds).",
                tables=[table, paper_table], failed_runs=failed, differs=differs_common, plot="claim2.png",
                wall_clock_s=None if 1 in args.claims else wall_clock["1-2"],
                notes=["The runs are claim 1's; their wall-clock is counted there."] if 1 in args.claims else []))

    # -- claim 3 -------------------------------------------------------------------------------------------------
    if "3" in plans:
        from datasets import DatasetDict

        from tlm_hf.data.token_stats import count_tokens, coverage_stats, tokenize, unigram_divergence
        from tlm_hf.data.tokenizer import load_tokenizer
        from tlm_hf.data.corpus import split_heldout
        from tlm_hf.settings import PretrainSettings, SubsetSettings

        bert = load_tokenizer(tokenizer.tokenizer or "bert-base-uncased")
        task_data = task.load()
        paragraphs = corpus.load()
        # the pre-training drew its W_s from the corpus less its held-out paragraphs, unless they came from elsewhere
        settings_3 = next(iter(plans["3"].values())).rows[0].pretraining.settings
        if not settings_3.get("heldout_where") and settings_3.get("heldout_size", PretrainSettings.heldout_size):
            paragraphs = split_heldout(paragraphs, settings_3.get("heldout_size", PretrainSettings.heldout_size),
                                       exp.subset_seed)[0]
        task_counts = count_tokens(tokenize(DatasetDict(train=task_data["train"], test=task_data["test"]), bert), bert)
        rows = []
        for name, plan in plans["3"].items():
            row = read_row(plan.rows[0])
            sub_exp = derived(exp, model, w_s=args.claim3_w_s, subset=plan.rows[0].subset,
                              avoid_fraction=None if name == "random" else float(name.split()[1]))[0]
            subset = SubsetSettings(subset=row["subset"], w_s=args.claim3_w_s, subset_seed=sub_exp.subset_seed,
                                    avoid_fraction=sub_exp.avoid_fraction).build(paragraphs, task_data, bert)
            counts = count_tokens(tokenize(subset, bert), bert)
            bert_stats = coverage_stats(counts, task_counts, w_s=len(subset))
            rows.append({**row, "name": name, "bert": bert_stats,
                         "js_divergence": unigram_divergence(counts, task_counts),
                         "missing_share": bert_stats["T_M"] / bert_stats["T_C"]})
        rows.sort(key=lambda r: r["missing_share"])
        points = [(r["missing_share"], gap) for r in rows for gap in r["gaps"].values()]
        estimate = rule.slope_interval(*zip(*points)) if len({x for x, _ in points}) > 1 else rule.Estimate(
            math.nan, math.nan, math.nan, len(points), "slope")
        mean_gaps = [r["gap"]["value"] if r["gap"] else math.nan for r in rows]
        predictors = {label: rule.r_squared([r[key] if key != "coverage" else r["bert"]["coverage"] for r in rows],
                                            mean_gaps) for label, key in (("T_M share", "missing_share"),
                                                                          ("frequency-weighted coverage", "coverage"),
                                                                          ("unigram JS divergence", "js_divergence"))}
        table = {"title": f"Ours: {task.task}, {sizes}, W_s = {args.claim3_w_s:,}; T_M, T_C and coverage in "
                          "bert-base-uncased tokens", "columns": [
            "subset", "T_C", "T_M (share)", "coverage", "JS divergence (bits)", "context gain",
            "Acc. pre-trained (per seed)", "Acc. scratch (per seed)", "gap: mean [95% CI] (n)"],
            "rows": [[r["name"], f"{r['bert']['T_C']:,}", f"{r['bert']['T_M']:,} ({r['missing_share']:.2f})",
                      f"{r['bert']['coverage']:.3f}", f"{r['js_divergence']:.3f}",
                      "-" if r["context_gain"] is None else f"{r['context_gain']:+.2f}", cell(r["pretrained"]),
                      cell(r["scratch"]), gap_cell(r)] for r in rows]}
        paper_table = {"title": "Paper: Table 7, DBpedia-14 (BERT-6, T_DBP = 15,084)",
                       "columns": ["W_s", "T_M", "Acc."],
                       "rows": [["20,000 random", "249", "0.979"], ["20,000 avoid", "10,250", "0.948"],
                                ["5,000 random", "1,470", "0.957"], ["0 (no pre-training)", "15,084", "0.938"]]}
        share = [r["missing_share"] for r in rows]
        with_gap = [r for r in rows if r["gap"]]
        plots["claim3.png"] = rule.line_plot([
            {"ylabel": "test accuracy", "series": [
                {"label": "pre-trained", "x": share, "y": [mean(r["pretrained"]) for r in rows]},
                {"label": "scratch", "x": share, "y": [mean(r["scratch"]) for r in rows],
                 "style": {"marker": "s", "linestyle": "--"}}]},
            {"ylabel": "gap", "hline": 0, "series": [
                {"label": "mean gap, 95% CI", "x": [r["missing_share"] for r in with_gap],
                 "y": [r["gap"]["value"] for r in with_gap],
                 "yerr": gap_bounds(with_gap)}]},
            {"ylabel": "coverage", "series": [{"label": "frequency-weighted coverage", "x": share,
                                               "y": [r["bert"]["coverage"] for r in rows]}]},
        ], title=f"Claim 3: {task.task}, W_s = {args.claim3_w_s:,}", xlabel="T_M / T_C (bert-base-uncased tokens)")
        report_claims.append(dict(
            claim=3, title="the gap shrinks as task tokens go missing from W_s",
            statement=f"Quantity: the least-squares slope of the per-seed gap against T_M / T_C (the share of the "
                      f"task's distinct bert-base-uncased tokens absent from W_s), over a random subset and avoid "
                      f"subsets (avoid_fraction {', '.join(f'{f:g}' for f in args.avoid_fractions)}) of the same W_s = "
                      f"{args.claim3_w_s:,}; the paper says it is below 0.",
            quantity="slope of the gap per unit of T_M / T_C",
            verdict=rule.judge(estimate, direction=-1, threshold=0.0, margin=MARGIN_PER_MISSING_SHARE,
                               seeds=len(exp.seeds)),
            paper="Table 7 (DBpedia-14, W_s 20,000): raising T_M from 249 to 10,250 lowers accuracy from 0.979 to "
                  "0.948, between W_s = 5,000 (0.957) and no pre-training (0.938); Table 4 the same on FewRel.",
            setting=f"{task.task}, {sizes}; W_s = {args.claim3_w_s:,}; {len(exp.seeds)} seeds.",
            tables=[table, paper_table], failed_runs=failed_lines(rows, lambda r: r["name"]),
            notes=["Which measure predicts the gap over these rows (R² of a line through the row means): " + ", ".join(
                f"{label} {'-' if value is None else f'{value:.2f}'}" for label, value in predictors.items())
                   + ". Few rows: read it as a hint, not a finding."],
            differs=[*differs_common, f"W_s is {args.claim3_w_s:,} (the paper's Table 7: 20,000): in the bundled "
                     "10,000-paragraph sample about 6,900 paragraphs avoid 30% of DBpedia-14's tokens and 2,500 avoid "
                     "50%, and the rarest task tokens, the ones avoided first, are mostly missing from a random W_s "
                     "anyway: T_M rises only past the share a random subset already misses."],
            plot="claim3.png", wall_clock_s=wall_clock["3"], rows=rows, predictors_r2=predictors))

    # -- claim 4 -------------------------------------------------------------------------------------------------
    if "4" in plans:
        from transformers import TrainingArguments

        from tlm_hf import ConvBertForSequenceClassification, SoftCommitteeForSequenceClassification
        from tlm_hf.data.tokenizer import load_tokenizer
        from tlm_hf.training.finetuning import classification_trainer

        task_data = task.load()
        deep_row = plans["4"][DEEP[0]].rows[0]
        def folders(runs) -> dict:
            """{seed: (run folder, test accuracy)} of fine-tunes."""
            return {outcomes[r.run_dir]["seed"]: (r.run_dir, outcomes[r.run_dir]["accuracy_final"]) for r in runs}

        deep = folders(deep_row.finetunes)
        members = {name: {"pre-trained": folders(plans["4"][name].rows[0].finetunes),
                          "scratch": folders(plans["4"][name].rows[0].scratch)} for name, _ in MEMBERS}
        member_tokenizer = load_tokenizer(str(plans["4"][MEMBERS[0][0]].rows[0].pretraining.run_dir))

        def committee_of(folders):  # from folders: from_members refuses members whose saved vocabularies differ
            return SoftCommitteeForSequenceClassification.from_members([str(folder) for folder in folders])

        def accuracy_of(committee) -> float:
            with tempfile.TemporaryDirectory() as tmp:
                eval_args = TrainingArguments(output_dir=tmp, per_device_eval_batch_size=128, report_to="none",
                                              use_cpu=not torch.cuda.is_available())
                trainer = classification_trainer(committee, member_tokenizer, task_data, eval_args,
                                                 max_length=model.max_length)
                return trainer.evaluate()["eval_accuracy"]

        committees = {kind: {seed: accuracy_of(committee_of([members[name][kind][seed][0] for name, _ in MEMBERS]))
                             for seed in sorted(deep)} for kind in ("pre-trained", "scratch")}
        deep_accuracy = {seed: acc for seed, (_, acc) in deep.items()}
        failed_deep = rule.failed_seeds(deep_accuracy)
        parts = []
        for kind, label in (("pre-trained", "committee of pre-trained members - deep model"),
                            ("scratch", "committee of members without pre-training - pre-trained deep model")):
            failed_kind = rule.failed_seeds(committees[kind])
            diffs = rule.paired_differences(committees[kind], deep_accuracy, exclude=failed_deep | failed_kind)
            estimate = rule.mean_interval(diffs.values()) if diffs else rule.Estimate(
                math.nan, math.nan, math.nan, 0, "mean")
            parts.append({"name": label, **rule.judge(estimate, direction=1, threshold=-MARGIN_ACCURACY,
                                                      margin=MARGIN_ACCURACY), "differences": diffs})
        # latency: the deep model and the pre-trained committee of seed 0, interleaved repeats, batch 1 and 32
        seed0 = sorted(deep)[0]
        latency = measure_latency(
            ConvBertForSequenceClassification.from_pretrained(str(deep[seed0][0])),
            [ConvBertForSequenceClassification.from_pretrained(str(members[n]["pre-trained"][seed0][0]))
             for n, _ in MEMBERS],
            vocab_size=len(member_tokenizer), seq_len=model.max_length, repeats=args.latency_repeats,
            threads=args.latency_threads)
        parts += [{"name": f"log latency ratio committee / deep, batch {b}", "format": "+.2f",
                   **{k: v for k, v in judged.items() if not k.endswith("_ms")}} for b, judged in latency.items()]
        verdict4 = {**parts[0], "verdict": rule.combined_verdict(
            [parts[0]["verdict"], parts[2]["verdict"], parts[3]["verdict"]])}
        table = {"title": f"Ours: {task.task}, {sizes}, W_s = {args.claim4_w_s:,}, each shape over "
                          f"{model.config_overrides}", "columns": [
            "model", "config", "Acc. pre-trained (per seed)", "Acc. without pre-training (per seed)"],
            "rows": [[DEEP[0], DEEP[1], cell(deep_accuracy), "-"]] + [
                [name, shape, cell({s: a for s, (_, a) in members[name]["pre-trained"].items()}),
                 cell({s: a for s, (_, a) in members[name]["scratch"].items()})] for name, shape in MEMBERS] + [
                ["soft committee (sum of logits)", "the 3 members", cell(committees["pre-trained"]),
                 cell(committees["scratch"])]]}
        latency_table = latency_markdown_table(
            latency, f"Latency on this CPU ({args.latency_threads} thread(s), members one after another, sequence "
                     f"{model.max_length}, "
                     f"{args.latency_repeats} interleaved repeats, seed-{seed0} models)")
        paper_table = {"title": "Paper: Tables 8 and 9", "columns": ["setting", "committee", "deep (BERT-6)"], "rows": [
            ["FewRel 10 labels, five pre-trained BERT-1", "0.866", "0.866"],
            ["FewRel 64 labels, five pre-trained BERT-1", "0.634", "0.625"],
            ["AG News, three BERT-1 without pre-training (vs BERT-6 pre-trained on W_s 5,000)", "0.868", "0.861"],
            ["latency in layers (the paper's count)", "7 (BERT-1 with two CLs)", "25"]]}
        names = ["deep"] + [n.replace("member: ", "") for n, _ in MEMBERS] + ["committee"]
        plots["claim4.png"] = rule.line_plot([
            {"ylabel": "test accuracy (mean of seeds)", "series": [
                {"label": "pre-trained", "x": names, "y": [mean(deep_accuracy)] + [
                    mean({s: a for s, (_, a) in members[n]["pre-trained"].items()}) for n, _ in MEMBERS] + [
                    mean(committees["pre-trained"])], "style": {"marker": "o", "linestyle": "none"}},
                {"label": "without pre-training", "x": names[1:], "y": [
                    mean({s: a for s, (_, a) in members[n]["scratch"].items()}) for n, _ in MEMBERS] + [
                    mean(committees["scratch"])], "style": {"marker": "s", "linestyle": "none"}}]},
            {"ylabel": "latency ratio committee / deep", "hline": 1, "series": [
                {"label": "geometric mean, 95% CI", "x": list(latency),
                 "y": [math.exp(v["value"]) for v in latency.values()],
                 "yerr": ([math.exp(v["low"]) for v in latency.values()],
                          [math.exp(v["high"]) for v in latency.values()]),
                 "style": {"marker": "o", "linestyle": "none"}}]},
        ], title=f"Claim 4: {task.task}, W_s = {args.claim4_w_s:,}", xlabel="batch size", xscale="log", sharex=False)
        report_claims.append(dict(
            claim=4, title="a soft committee of shallow models matches a deep model, at lower latency",
            statement="Quantities: the paired difference (committee - deep test accuracy, same seed), which the paper "
                      f"says is not below -{MARGIN_ACCURACY} (matches: non-inferiority by one point); and the log "
                      "latency ratio committee / deep over interleaved repeats, which it says is below 0. The claim "
                      "holds when the accuracy part and both latency parts hold; Table 9's variant (members "
                      "without pre-training against the pre-trained deep model) is judged by the same rule and shown "
                      "beside it.",
            quantity="committee - deep accuracy", verdict=verdict4, parts=parts,
            paper="Table 8: five pre-trained BERT-1 (with 0-3 CLs) as a soft committee match BERT-6 on FewRel "
                  "(0.866 = 0.866 with 10 labels, 0.634 > 0.625 with 64); Table 9: three BERT-1 without pre-training "
                  "reach 0.868 on AG News against 0.861 for BERT-6 pre-trained on W_s = 5,000. Latency argued from "
                  "layer counts (7 against 25), not measured.",
            setting=f"{task.task}, {sizes}; one W_s = {args.claim4_w_s:,} pre-training per shape (same steps); "
                    f"{len(exp.seeds)} seeds; committee of seed s = the members fine-tuned with seed s.",
            tables=[table, latency_table, paper_table],
            differs=[*differs_common, "Three members (Table 9's count) instead of Table 8's five, at the tiny width; "
                     "CLs of 8 channels (the paper's 32-64 cost more than a transformer block on a CPU, see the "
                     "latency section of docs/committee.md); DBpedia-14 instead of FewRel / AG News.",
                     "Latency is measured on this CPU in the same run (the paper counts layers), with the same threads "
                     "for both and the members one after another; a shared machine makes the milliseconds noisy, the "
                     "interleaved ratios less so."],
            plot="claim4.png", wall_clock_s=wall_clock["4"], deep=deep_accuracy, committees=committees,
            members={n: {kind: {s: a for s, (_, a) in runs.items()} for kind, runs in kinds.items()}
                     for n, kinds in members.items()},
            latency=latency))

    # -- the report --------------------------------------------------------------------------------------------------
    report_claims.sort(key=lambda c: c["claim"])
    hardware = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch "
                f"{torch.__version__}, {torch.get_num_threads()} threads; load average at the end "
                f"{os.getloadavg()[0]:.1f}")
    rule.write_report(out, {"command": command, "hardware": hardware, "seeds": exp.seeds, "task": task.task,
                            "wall_clock_s": wall_clock, "rule": rule.VERDICT_RULE, "claims": report_claims}, plots)
    for claim in report_claims:
        print(f"claim {claim['claim']}: {claim['title']}: {claim['verdict']['verdict']}")
    print(f"wrote {out}/report.md, report.json and {', '.join(sorted(plots))}")


if __name__ == "__main__":
    main()
