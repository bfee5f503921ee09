"""The paper's four claims from one config: plan every run, run what is not cached, read the runs into typed
units, judge each claim and write the report. `reproduce(argv)` is the whole command (`tlm reproduce`); its
default plan is claims.yaml beside this module.

The config is an experiment config (claims 1 and 2's rows) with a `claims:` mapping of this module's own options
(claim 3's W_s and avoid fractions, claim 4's W_s and the deep model's learning-rate grid, latency repeats);
claims 3 and 4 are derived from the experiment, so every claim shares its settings and cached runs.
"""

import argparse
import dataclasses
import math
import os
import platform
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import yaml

from ...arguments import coerce, parse_settings, read_yaml, renamed_args
from ...errors import SettingsError
from ...settings import EXPERIMENT_SETTINGS, parse_key_values, refuse_repeats
from ..experiments import plan_experiment
from ..mlm import PLATEAU_GAIN
from ..recipes import bf16_available
from . import analysis
from .analysis import SIDE_BY_SIDE, CommitteeUnit, FineTuneResult, Unit
from .paper import ACCURACY, COMMITTEES, MARGINS, TABLE7
from .plot import line_plot
from .report import estimate_text, markdown_table, write_report

# Claim 4: the deep model and the committee's members, the config fields they change on the shared model (the
# paper's BERT-6 and BERT-1 shapes at the tiny width: Table 8's members with 8 channels instead of 32-64).
DEFAULT_CONFIG = Path(__file__).with_name("claims.yaml")  # the default plan, shipped with the package
DEEP = ("deep: 6 blocks", "num_hidden_layers=6")
MEMBERS = (
    ("member: 1 block", "num_hidden_layers=1"),
    ("member: 1 block + 2 CLs (d 8, 3x3)", "num_hidden_layers=1,num_conv_layers=2,conv_channels=8,conv_kernel_size=3"),
    ("member: 1 block + 1 CL (d 8, 5x5)", "num_hidden_layers=1,num_conv_layers=1,conv_channels=8,conv_kernel_size=5"),
)
TITLES = {1: "pre-training pays off at tiny scale", 2: "the gap grows with W_s",
          3: "the gap shrinks as task tokens go missing from W_s",
          4: "a soft committee of shallow models matches a deep model, at lower latency"}

# The time a run takes on the 2-core reference machine (AMD EPYC Zen 4, one thread per run, two runs at once; the
# README's main job in docs/benchmarks.md): a pre-training step of batch 32 of the 2-block width-128 model, and a
# fine-tuning example-epoch per candidate learning rate, both scaled by the model's blocks; the rest per run.
SECONDS_PER_PRETRAINING_STEP = 0.129  # 2 x 3,000 steps side by side in 6 min 26 s
SECONDS_PER_FINETUNING_EXAMPLE_EPOCH = 0.0033  # 28 s for 420 examples x 10 epochs x 2 learning rates
SECONDS_PER_RUN = 10
LABELS = {"dbpedia_14": 14, "ag_news": 4}


def claims_parser(prog: str = "reproduce") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, add_help=False)
    parser.add_argument("--claims", type=int, nargs="+", choices=[1, 2, 3, 4], default=[1, 2, 3, 4])
    parser.add_argument("--output_dir", required=True)
    parser.add_argument("--config", required=True, help="an experiment config with a `claims:` mapping")
    parser.add_argument("--claim3_w_s", type=int, default=2000, help="claim 3's fixed W_s")
    parser.add_argument("--avoid_fractions", type=float, nargs="+", default=[0.3, 0.5],
                        help="claim 3: shares of the task's tokens kept out of W_s, one avoid row each")
    parser.add_argument("--claim4_w_s", type=int, default=5000, help="claim 4's W_s (deep model and members)")
    parser.add_argument("--deep_learning_rates", type=float, nargs="+", default=[3e-4, 1e-3, 3e-3],
                        help="claim 4: the deep model's own grid (a deeper model may want a lower rate)")
    parser.add_argument("--latency_repeats", type=int, default=10)
    parser.add_argument("--latency_threads", type=int, default=1, help="CPU threads of each model when timing")
    parser.add_argument("--latency_only", action="store_true",
                        help="claim 4's latency alone, random weights, no training; writes OUTPUT_DIR/latency.json")
    return parser


@dataclass
class Setup:
    """Everything parsed and planned, before any run starts."""

    options: argparse.Namespace
    exp: object
    corpus: object
    task: object
    model: object
    tokenizer: object
    plans: dict  # claim group -> {name: ExperimentPlan}


def derived(exp, model, *, w_s, subset="random", avoid_fraction=None, shape=None, **changes):
    """The shared experiment narrowed to one row (and, for claim 4, one model shape)."""
    exp = replace(exp, w_s=[str(w_s)], subset=[subset], avoid_fraction=avoid_fraction or exp.avoid_fraction,
                  shuffled_control=False, **changes)
    if shape:
        fields = {**parse_key_values(model.config_overrides, setting="config_overrides"),
                  **parse_key_values(shape, setting="config_overrides")}
        model = replace(model, config_overrides=",".join(f"{k}={v}" for k, v in fields.items()))
    return exp, model


def setup(argv, prog: str = "reproduce") -> Setup:
    """Parse the command line and the config, and plan every claim's runs (each checked)."""
    argv = renamed_args(argv or [])
    options, rest = claims_parser(prog).parse_known_args(argv)
    values = read_yaml(options.config)
    section = values.pop("claims", None) or {}
    actions = {a.dest: a for a in claims_parser()._actions}
    unknown = set(section) - set(actions)
    if unknown:
        raise SettingsError(f"{options.config}: unknown claims option {sorted(unknown)[0]!r}")
    given = {a.split("=")[0].lstrip("-") for a in argv if a.startswith("--")}
    for key, value in section.items():  # the config's claims options, unless given on the command line (YAML
        if key not in given:              # reads 3e-4 as text: converted as the command line's are)
            setattr(options, key, coerce(actions[key], value))
    for name in ("latency_repeats", "latency_threads"):  # the latency's mean needs at least one of each
        if getattr(options, name) < 1:
            raise SettingsError(f"{name} {getattr(options, name)} is out of range; it must be >= 1")
    refuse_repeats("avoid_fractions", options.avoid_fractions)  # each is a row of claim 3's slope
    with tempfile.TemporaryDirectory() as tmp:
        experiment_file = Path(tmp) / "experiment.yaml"
        experiment_file.write_text(yaml.safe_dump(values))
        exp, corpus, task, model, tokenizer = parse_settings(
            EXPERIMENT_SETTINGS, ["--config", str(experiment_file), *rest, "--output_dir",
                                  str(Path(options.output_dir) / "runs")], prog=prog)
    plans = {}
    if options.latency_only:  # random weights: nothing to plan
        return Setup(options, exp, corpus, task, model, tokenizer, plans)
    if {1, 2} & set(options.claims):
        plans["1-2"] = {"rows": plan_experiment(exp, corpus, task, model, tokenizer)}
    if 3 in options.claims:
        plans["3"] = {"random": plan_experiment(derived(exp, model, w_s=options.claim3_w_s)[0], corpus, task, model,
                                                tokenizer)}
        for fraction in options.avoid_fractions:
            plans["3"][f"avoid {fraction:g}"] = plan_experiment(
                derived(exp, model, w_s=options.claim3_w_s, subset="avoid", avoid_fraction=fraction)[0], corpus, task,
                model, tokenizer)
    if 4 in options.claims:
        plans["4"] = {}
        for name, shape in (DEEP, *MEMBERS):
            grid = {"learning_rates": list(options.deep_learning_rates)} if name == DEEP[0] else {}
            narrowed, shaped = derived(exp, model, w_s=options.claim4_w_s, shape=shape, **grid)
            plans["4"][name] = plan_experiment(narrowed, corpus, task, shaped, tokenizer)
    return Setup(options, exp, corpus, task, model, tokenizer, plans)


def planned_runs(plans: dict) -> list:
    """Every run of every claim once, in starting order; the deep model of claim 4 needs no scratch arm."""
    unique = {}
    for group, named in plans.items():
        for name, plan in named.items():
            for run in plan.runs():
                if name == DEEP[0] and run.settings.get("scratch"):
                    continue
                if group == "4":  # the rows differ by model shape alone: say which one
                    run = dataclasses.replace(run, label=f"{name.split(': ')[1]}, {run.label}")
                unique.setdefault(run.run_dir, run)
    return list(unique.values())


def estimate_seconds(runs, jobs: int) -> float:
    """The plan's wall-clock on the 2-core reference machine with `jobs` runs at once (a rough guide: it scales
    the measured times by blocks, steps, examples, epochs and candidate learning rates)."""
    total = 0.0
    for run in runs:
        s = run.settings
        overrides = parse_key_values(s.get("config_overrides"), setting="config_overrides") if s.get(
            "config_overrides") else {}
        blocks = float(overrides.get("num_hidden_layers", 2)) / 2 + 0.2 * float(overrides.get("num_conv_layers", 0))
        if run.done_file == "pretraining_stats.json":
            steps = s.get("max_steps") or 2000
            total += SECONDS_PER_PRETRAINING_STEP * float(steps) * blocks
        else:
            examples = (s.get("train_per_label") or 100) * LABELS.get(s.get("task"), 14)
            rates = len(s.get("learning_rates") or [None])
            total += SECONDS_PER_FINETUNING_EXAMPLE_EPOCH * examples * float(s.get("num_train_epochs") or 10) * rates * (
                max(blocks, 0.6))
        total += SECONDS_PER_RUN
    return total / max(jobs, 1)


# -- reading the runs into typed units -----------------------------------------------------------------------


def _results(runs, outcomes) -> tuple[FineTuneResult, ...]:
    return tuple(FineTuneResult.from_results(outcomes[r.run_dir], r.run_dir) for r in runs)


def unit_of(row, outcomes, *, name: str, x: float) -> Unit:
    return Unit(row=name, x=x, pretrain_seed=row.pretrain_seed, pretrained=_results(row.finetunes, outcomes),
                scratch=_results(row.scratch, outcomes), shuffled=_results(row.shuffled_finetunes, outcomes),
                pretraining=outcomes[row.pretraining.run_dir], pretraining_dir=str(row.pretraining.run_dir))


def _cell(results) -> str:
    return " / ".join(f"{r.test_accuracy:.3f}{'*' if r.failed else ''}" for r in sorted(results, key=lambda r: r.seed)) or "-"


def _gap(unit, a="pretrained", b="scratch") -> str:
    gap = unit.gap(a, b)
    return "-" if gap is None else f"{gap:+.3f}"


def _row_summary(units, title: str) -> dict:
    """Per row: its pre-trainings and the mean gap over them with its interval (and the control's split)."""
    rows = []
    for name in dict.fromkeys(u.row for u in units):
        part = [u for u in units if u.row == name]
        cells = [name, str(len(part)),
                 estimate_text(asdict(analysis.mean_interval(g for u in part if (g := u.gap()) is not None)))]
        if any(u.shuffled for u in part):
            for a, b in (("shuffled", "scratch"), ("pretrained", "shuffled")):
                cells.append(estimate_text(asdict(analysis.mean_interval(
                    g for u in part if (g := u.gap(a, b)) is not None))))
        rows.append(cells)
    columns = ["row", "pre-trainings", "gap: mean over pre-trainings [95% CI] (n)"]
    if any(u.shuffled for u in units):
        columns += ["from word statistics (shuffled - scratch)", "from word order (pre-trained - shuffled)"]
    return {"title": title, "columns": columns, "rows": rows}


def _failed_and_edges(units) -> tuple[list, list]:
    """One line per failed run; per arm, how many runs chose each edge of the search (report.json's units say
    which runs)."""
    failed, edges = [], []
    for arm in analysis.ARMS:
        results = [(u, r) for u in units for r in u.arm(arm)]
        for u, r in results:
            if r.failed:
                failed.append(f"{u.row}, pre-training seed {u.pretrain_seed}, {arm}, seed {r.seed}: validation "
                              f"{r.validation_accuracy:.3f}")
        for edge in dict.fromkeys(e for _, r in results for e in r.grid_edges):
            edges.append(f"{arm}: {edge} in {sum(edge in r.grid_edges for _, r in results)} of {len(results)} runs")
    return failed, edges


def plateau_note(units) -> str | None:
    """A line when pre-trainings ended on the MLM plateau (context gain below mlm.PLATEAU_GAIN): their gap says
    what a model that predicts by word frequency gives fine-tuning, not what a model that uses context gives."""
    gains = [g for u in units if (g := getattr(u, "pretraining", {}).get("context_gain")) is not None]
    low = [g for g in gains if g < PLATEAU_GAIN]
    if not low:
        return None
    return (f"On the MLM plateau: {len(low)} of {len(gains)} pre-trainings ended with a held-out context gain below "
            f"{PLATEAU_GAIN:+.2f} ({min(low):+.2f} to {max(low):+.2f}): they predict a masked token little better "
            "than by its frequency, so their gaps measure what such a model gives fine-tuning, not what a model that "
            "uses context gives (more pre-training steps: pretrain_args max_steps, or claims-gpu.yaml).")


def _claim_dict(result: analysis.ClaimResult, **texts) -> dict:
    failed, edges = _failed_and_edges(result.units)
    return {"claim": result.claim, "title": TITLES[result.claim], "verdict": asdict(result.verdict),
            "parts": [asdict(p) for p in result.parts], "split": [asdict(p) for p in result.split],
            "failed_runs": failed, "edges": edges, "plateau": plateau_note(result.units),
            "units": [asdict(u) for u in result.units], **texts}


def claims_1_2(s: Setup, outcomes, sizes: str, differs: list) -> tuple[list, dict]:
    units = [unit_of(row, outcomes, name=f"W_s {outcomes[row.pretraining.run_dir]['W_s']:,}",
                     x=outcomes[row.pretraining.run_dir]["W_s"]) for row in s.plans["1-2"]["rows"].rows]
    units.sort(key=lambda u: (u.x, u.pretrain_seed or 0))
    marked = analysis.mark_failed(units)
    task = s.task.task
    paper = ACCURACY.get(task, {})
    paper_text = "; ".join(f"{n.row}: {n.value:.3f} ({n.table})" for n in paper.values()) or "(no paper numbers)"
    per_unit = {"title": f"Ours, every pre-training: {task}, {sizes}; accuracies per fine-tuning seed "
                         "(* failed on validation)",
                "columns": ["W_s", "pre-training seed", "T_W", "context gain", "pre-trained", "words shuffled",
                            "scratch twin", "gap", "from word order"],
                "rows": [[f"{u.x:,.0f}", u.pretrain_seed, f"{u.pretraining.get('T_W', 0):,}",
                          "-" if u.pretraining.get("context_gain") is None else f"{u.pretraining['context_gain']:+.2f}",
                          _cell(u.pretrained), _cell(u.shuffled), _cell(u.scratch), _gap(u),
                          _gap(u, "pretrained", "shuffled") if u.shuffled else "-"] for u in marked]}
    summary = _row_summary(marked, "Ours, per row: the pre-trainings' gaps")
    paper_table = {"title": "Paper", "columns": ["W_s", "Acc.", "gap", "source"],
                   "rows": [[f"{w:,}" if w else "0 (no pre-training)", f"{n.value:.3f}",
                             f"{n.value - paper[0].value:+.3f}" if w else "-", f"{n.table}, {n.row}"]
                            for w, n in paper.items()]} if paper else None
    ws = sorted({u.x for u in units})
    series = lambda a, b: [(u.x, g) for u in marked if (g := u.gap(a, b)) is not None]  # noqa: E731
    gap_panel = {"ylabel": "gap per pre-training", "hline": 0, "series": [
        {"label": "pre-trained - scratch", "x": [x for x, _ in series("pretrained", "scratch")],
         "y": [g for _, g in series("pretrained", "scratch")], "style": {"marker": "o", "linestyle": "none"}}]}
    if any(u.shuffled for u in units):
        gap_panel["series"].append({"label": "words shuffled - scratch", "x": [x for x, _ in series("shuffled", "scratch")],
                                    "y": [g for _, g in series("shuffled", "scratch")],
                                    "style": {"marker": "s", "linestyle": "none"}})
    if paper and 0 in paper:
        gap_panel["series"].append({"label": "paper (BERT-6)", "x": [w for w in paper if w],
                                    "y": [paper[w].value - paper[0].value for w in paper if w],
                                    "style": {"marker": "^", "color": "grey"}})
    claims, plots = [], {}
    setting = (f"{task}, {sizes}; W_s {', '.join(f'{w:,.0f}' for w in ws)}; pre-training seeds "
               f"{s.exp.pretrain_seeds or ['(one)']}, fine-tuning seeds {s.exp.seeds} each.")
    control = ("The control: each pre-training repeated on the same paragraphs with the words of each paragraph "
               "shuffled (same vocabulary, same word counts, no word order), fine-tuned with the same seeds against "
               "the same scratch twin.")
    for number, judge in ((1, analysis.claim1), (2, analysis.claim2)):
        if number not in s.options.claims:
            continue
        result = judge(units)
        plots[f"claim{number}.png"] = line_plot([gap_panel], title=f"Claim {number}: {task}, {sizes}",
                                                xlabel="W_s (pre-training paragraphs)", xscale="log")
        statement = ("Quantity: the mean over the pre-trainings of the largest W_s of each one's gap (pre-trained - "
                     "scratch twin, paired by fine-tuning seed, averaged over seeds); the paper says it is above 0."
                     if number == 1 else
                     "Quantity: the least-squares slope of the pre-trainings' gaps against log10 W_s, one point per "
                     "pre-training; the paper says it is above 0 (Tables 3, 5, 6).")
        claims.append(_claim_dict(result, statement=statement + " " + control, paper=paper_text, setting=setting,
                                  tables=[t for t in (summary, per_unit, paper_table) if t], differs=differs,
                                  plot=f"claim{number}.png"))
    return claims, plots


def claim_3(s: Setup, outcomes, sizes: str, differs: list) -> tuple[list, dict]:
    from datasets import DatasetDict

    from ...data.corpus import split_heldout
    from ...data.token_stats import count_tokens, coverage_stats, tokenize, unigram_divergence
    from ...data.tokenizer import load_tokenizer
    from ...settings import PretrainSettings, SubsetSettings

    bert = load_tokenizer(s.tokenizer.tokenizer or "bert-base-uncased")
    task_data = s.task.load()
    corpus = s.corpus.load()
    task_counts = count_tokens(tokenize(DatasetDict(train=task_data["train"], test=task_data["test"]), bert), bert)
    units, measures = [], []
    for name, plan in s.plans["3"].items():
        for row in plan.rows:  # each pre-training's own W_s, rebuilt from its seed, counted in bert-base tokens
            settings = row.pretraining.settings
            heldout = settings.get("heldout_size", PretrainSettings.heldout_size)
            paragraphs = corpus if settings.get("heldout_where") or not heldout else split_heldout(
                corpus, heldout, settings["subset_seed"])[0]
            subset = SubsetSettings(subset=settings["subset"], w_s=settings["w_s"], subset_seed=settings["subset_seed"],
                                    avoid_fraction=settings["avoid_fraction"]).build(paragraphs, task_data, bert)
            counts = count_tokens(tokenize(subset, bert), bert)
            bert_stats = coverage_stats(counts, task_counts, w_s=len(subset))
            units.append(unit_of(row, outcomes, name=name, x=bert_stats["T_M"] / bert_stats["T_C"]))
            measures.append({"T_C": bert_stats["T_C"], "T_M": bert_stats["T_M"], "coverage": bert_stats["coverage"],
                             "js_divergence": unigram_divergence(counts, task_counts)})
    result = analysis.claim3(units)
    marked = list(result.units)
    table = {"title": f"Ours, every pre-training: {s.task.task}, {sizes}, W_s = {s.options.claim3_w_s:,}; T_M, T_C and "
                      "coverage in bert-base-uncased tokens", "columns": [
        "subset", "pre-training seed", "T_M (share of T_C)", "coverage", "JS divergence (bits)", "context gain",
        "pre-trained", "scratch twin", "gap"],
        "rows": [[u.row, u.pretrain_seed, f"{m['T_M']:,} ({u.x:.2f})", f"{m['coverage']:.3f}",
                  f"{m['js_divergence']:.3f}",
                  "-" if u.pretraining.get("context_gain") is None else f"{u.pretraining['context_gain']:+.2f}",
                  _cell(u.pretrained), _cell(u.scratch), _gap(u)] for u, m in zip(marked, measures)]}
    gaps = [(u.x, g, m) for u, m in zip(marked, measures) if (g := u.gap()) is not None]
    predictors = {label: analysis.r_squared([key(x, m) for x, _, m in gaps], [g for _, g, _ in gaps])
                  for label, key in (("T_M share", lambda x, m: x), ("frequency-weighted coverage",
                                                                     lambda x, m: m["coverage"]),
                                     ("unigram JS divergence", lambda x, m: m["js_divergence"]))}
    paper_table = {"title": "Paper: Table 7, DBpedia-14 (BERT-6, T_DBP = 15,084)", "columns": ["W_s", "T_M", "Acc."],
                   "rows": [[name, f"{tm.value:,}", f"{acc.value:.3f}"] for name, (tm, acc) in TABLE7.items()]}
    plot = line_plot([{"ylabel": "gap per pre-training", "hline": 0, "series": [
        {"label": "pre-trained - scratch", "x": [x for x, _, _ in gaps], "y": [g for _, g, _ in gaps],
         "style": {"marker": "o", "linestyle": "none"}}]}],
        title=f"Claim 3: {s.task.task}, W_s = {s.options.claim3_w_s:,}", xlabel="T_M / T_C (bert-base-uncased tokens)")
    claim = _claim_dict(
        result, statement="Quantity: the least-squares slope of the pre-trainings' gaps against the share of the "
                          "task's distinct bert-base-uncased tokens absent from each one's W_s (T_M / T_C), over a "
                          f"random row and avoid rows (avoid_fraction {', '.join(f'{f:g}' for f in s.options.avoid_fractions)}) "
                          f"of W_s = {s.options.claim3_w_s:,}; the paper says it is below 0.",
        paper="Table 7 (DBpedia-14, W_s 20,000): raising T_M from 249 to 10,250 lowers accuracy from 0.979 to 0.948, "
              "between W_s = 5,000 (0.957) and no pre-training (0.938); Table 4 the same on FewRel.",
        setting=f"{s.task.task}, {sizes}; W_s = {s.options.claim3_w_s:,}; pre-training seeds "
                f"{s.exp.pretrain_seeds or ['(one)']} per row, fine-tuning seeds {s.exp.seeds}.",
        tables=[table, paper_table], differs=differs + [
            f"W_s is {s.options.claim3_w_s:,} (Table 7: 20,000): the bundled 10,000-paragraph sample holds too few "
            "paragraphs that avoid a large share of the task's tokens at 20,000."],
        notes=["Which measure predicts the gap over these pre-trainings (R² of a line): " + ", ".join(
            f"{label} {'-' if v is None else f'{v:.2f}'}" for label, v in predictors.items())
            + ". A hint, not a finding."], plot="claim3.png", measures=measures, predictors_r2=predictors)
    return [claim], {"claim3.png": plot}


def claim_4(s: Setup, outcomes, sizes: str, differs: list) -> tuple[list, dict]:
    from transformers import TrainingArguments

    from ...data.tokenizer import load_tokenizer
    from ...models.modeling_conv_bert import ConvBertForSequenceClassification
    from ...models.modeling_soft_committee import SoftCommitteeForSequenceClassification
    from ..finetuning import classification_trainer
    from .latency import committee_latencies

    import torch

    task_data = s.task.load()
    plans = s.plans["4"]

    def accuracy_of(folders) -> float:  # from folders: from_members refuses members whose vocabularies differ
        committee = SoftCommitteeForSequenceClassification.from_members([str(f) for f in folders])
        tokenizer = load_tokenizer(str(folders[0]))  # each pre-training seed draws its own W_s and vocabulary
        with tempfile.TemporaryDirectory() as tmp:
            args = TrainingArguments(output_dir=tmp, per_device_eval_batch_size=128, report_to="none",
                                     use_cpu=not torch.cuda.is_available())
            trainer = classification_trainer(committee, tokenizer, task_data, args, max_length=s.model.max_length)
            return trainer.evaluate()["eval_accuracy"]

    units = []
    for index, deep_row in enumerate(plans[DEEP[0]].rows):
        member_rows = {name: plans[name].rows[index] for name, _ in MEMBERS}
        committee = {seed: accuracy_of([member_rows[n].finetunes[i].run_dir for n, _ in MEMBERS])
                     for i, seed in enumerate(s.exp.seeds)}
        scratch = {seed: accuracy_of([member_rows[n].scratch[i].run_dir for n, _ in MEMBERS])
                   for i, seed in enumerate(s.exp.seeds)}
        units.append(CommitteeUnit(deep_row.pretrain_seed, _results(deep_row.finetunes, outcomes),
                                   {n: _results(r.finetunes, outcomes) for n, r in member_rows.items()}, committee,
                                   scratch))
    first = plans[DEEP[0]].rows[0].finetunes[0].run_dir
    latencies = committee_latencies(
        ConvBertForSequenceClassification.from_pretrained(str(first)),
        [ConvBertForSequenceClassification.from_pretrained(str(plans[n].rows[0].finetunes[0].run_dir))
         for n, _ in MEMBERS],
        vocab_size=len(load_tokenizer(str(first))), seq_len=s.model.max_length, repeats=s.options.latency_repeats,
        threads=s.options.latency_threads)
    return _claim4_report(s, analysis.claim4(units, latencies), units, latencies, sizes, differs)


def latency_table(latencies, title: str) -> dict:
    return {"title": title, "columns": ["way", "batch", "deep p50 ms", "committee p50 ms",
                                        "committee / deep (geometric mean) [95% CI]", "how"],
            "rows": [[lat.way, lat.batch_size, f"{statistics.median(lat.deep_ms):.1f}",
                      f"{statistics.median(lat.committee_ms):.1f}",
                      _ratio(analysis.mean_interval(lat.log_ratios())), lat.how] for lat in latencies]}


def _ratio(e) -> str:
    return "-" if math.isnan(e.low) else f"{math.exp(e.value):.2f} [{math.exp(e.low):.2f}, {math.exp(e.high):.2f}]"


def _claim4_report(s, result, units, latencies, sizes, differs):
    mean = lambda values: statistics.fmean(values) if values else math.nan  # noqa: E731
    table = {"title": f"Ours: {s.task.task}, {sizes}, W_s = {s.options.claim4_w_s:,}; test accuracy per pre-training "
                      "seed (mean over fine-tuning seeds)",
             "columns": ["model", "config", *(f"pre-training seed {u.pretrain_seed}" for u in units)],
             "rows": [[DEEP[0], DEEP[1], *(f"{mean([r.test_accuracy for r in u.deep]):.3f} (lr "
                                           f"{'/'.join(f'{r.learning_rate:g}' for r in u.deep if r.learning_rate)})"
                                           for u in units)]]
             + [[name, shape, *(f"{mean([r.test_accuracy for r in u.members[name]]):.3f}" for u in units)]
                for name, shape in MEMBERS]
             + [["soft committee, pre-trained members", "the 3 members",
                 *(f"{mean(list(u.committee.values())):.3f}" for u in units)],
                ["soft committee, members without pre-training", "the 3 members",
                 *(f"{mean(list(u.committee_scratch.values())):.3f}" for u in units)]]}
    paper_table = {"title": "Paper: Tables 8 and 9", "columns": ["setting", "committee", "deep (BERT-6)"],
                   "rows": [[name, f"{c.value:.3f}", f"{d.value:.3f}"] for name, (c, d) in COMMITTEES.items()]
                   + [["latency in layers (the paper's count)", "7 (BERT-1 with two CLs)", "25"]]}
    deep_part = result.split[0]
    deep_runs = [r for u in units for r in u.deep]
    deep_edges = ", ".join(f"{edge} in {sum(edge in r.grid_edges for r in deep_runs)} of {len(deep_runs)} runs"
                           for edge in dict.fromkeys(e for r in deep_runs for e in r.grid_edges)) or "none"
    side = [lat for lat in latencies if lat.way == SIDE_BY_SIDE]
    plot = line_plot([{"ylabel": "latency ratio committee / deep", "hline": 1, "series": [
        {"label": f"{way}, geometric mean, 95% CI", "x": [lat.batch_size for lat in latencies if lat.way == way],
         "y": [math.exp(analysis.mean_interval(lat.log_ratios()).value) for lat in latencies if lat.way == way],
         "style": {"marker": "o" if way == SIDE_BY_SIDE else "s", "linestyle": "none"}}
        for way in dict.fromkeys(lat.way for lat in latencies)]}],
        title=f"Claim 4: {s.task.task}, W_s = {s.options.claim4_w_s:,}", xlabel="batch size", xscale="log")
    claim = _claim_dict(
        result, statement="Quantities: the committee - deep test accuracy (paired by fine-tuning seed, averaged "
                          "within a pre-training seed, the interval over pre-training seeds), which the paper says is "
                          f"not below -{MARGINS['matching'].value} (matches); and the log latency ratio committee / "
                          "deep with the members side by side, which it says is below 0. The claim holds when the "
                          "accuracy part and both side-by-side latency parts hold. The total-work latency (members "
                          "one after another) and Table 9's variant are judged by the same rule and shown beside it.",
        paper="Table 8: five pre-trained BERT-1 (0-3 CLs) as a soft committee match BERT-6 on FewRel (0.866 = 0.866 "
              "with 10 labels, 0.634 > 0.625 with 64); Table 9: three BERT-1 without pre-training reach 0.868 on AG "
              "News against 0.861 for BERT-6 pre-trained on W_s = 5,000. Latency argued from layer counts (7 "
              "against 25), not measured.",
        setting=f"{s.task.task}, {sizes}; every shape pre-trained on W_s = {s.options.claim4_w_s:,} for the same "
                f"number of steps (equal steps, not equal compute: the deep model costs about 3 times a member per "
                f"step), once per pre-training seed {s.exp.pretrain_seeds or ['(one)']}; the deep model chooses its "
                f"learning rate among {', '.join(f'{r:g}' for r in s.options.deep_learning_rates)}, the members "
                f"among {', '.join(f'{r:g}' for r in s.exp.learning_rates)}; fine-tuning seeds {s.exp.seeds}.",
        tables=[table, latency_table(latencies, "Latency, two ways (the first pre-training seed's models, fine-tuning seed "
                                           f"{s.exp.seeds[0]}; the verdict reads side by side)"),
                paper_table],
        notes=[f"Is the deep baseline fair? {deep_part.name}: {deep_part.estimate.text()}; the deep model beats a "
               f"single member: {analysis.beats(deep_part)}. Its choices on the edge of its own grid: {deep_edges}.",
               f"Side by side is what the paper's argument needs; on this machine it has "
               f"{os.cpu_count()} cores for {len(MEMBERS)} members" if side else "no side-by-side measurement"],
        differs=differs + ["Three members (Table 9's count) instead of Table 8's five, at the tiny width; CLs of 8 "
                           "channels; the task of the shared config instead of FewRel / AG News."],
        plot="claim4.png", latency=[asdict(lat) for lat in latencies],
        committee_units=[asdict(u) for u in units])
    return [claim], {"claim4.png": plot}


DIFFERS = [
    "Model: 2 blocks of hidden 128 (about 1 M parameters) against BERT-6 (hidden 768, about 67 M): absolute "
    "accuracies sit below the paper's.",
    "Corpus: WikiText-2 train paragraphs (10,000 in the bundled sample) against about 6 million Wikipedia "
    "paragraphs: W_s stops at the corpus.",
    "Recipe: `fast` (a 4,096-token WordPiece vocabulary trained on each W_s, so each pre-training has its own scratch "
    "twin) and the same number of pre-training steps for every W_s; the paper's 50 epochs at lr 5.5e-5 leave a tiny "
    "model on the MLM plateau at this budget.",
    "Fine-tuning: learning rate and epoch chosen on a validation split among a grid, the chosen model tested once; "
    "fewer epochs than the paper's 50 (choices on a grid edge are listed).",
]


def latency_only(s: Setup, command: str) -> None:
    """Claim 4's latency with random weights (latency does not depend on them): no training."""
    from ...models.configuration_conv_bert import ConvBertConfig
    from ...models.modeling_conv_bert import ConvBertForSequenceClassification
    from ..recipes import get_recipe
    from ..runs import write_json
    from .latency import committee_latencies

    vocab_size = get_recipe(s.exp.recipe).pretraining.get("wordpiece_vocab_size") or 30522

    def random_classifier(shape):
        shaped = derived(s.exp, s.model, w_s=s.options.claim4_w_s, shape=shape)[1]
        stand_ins = dict(pad_token_id=0, cls_token_id=1, sep_token_id=2, mask_token_id=3, num_labels=14)
        return ConvBertForSequenceClassification(
            ConvBertConfig.from_preset(shaped.preset, vocab_size=vocab_size, **stand_ins, **shaped.overrides()))

    latencies = committee_latencies(random_classifier(DEEP[1]), [random_classifier(shape) for _, shape in MEMBERS],
                                    vocab_size=vocab_size, seq_len=s.model.max_length,
                                    repeats=s.options.latency_repeats, threads=s.options.latency_threads)
    verdicts = analysis.claim4([], latencies).parts[1:]
    table = latency_table(latencies, f"{DEEP[0]} against a soft committee of {len(MEMBERS)} members, random "
                                     f"weights; load average {os.getloadavg()[0]:.1f}")
    write_json(Path(s.options.output_dir) / "latency.json", {
        "command": command, "latency": [asdict(lat) for lat in latencies], "verdicts": [asdict(v) for v in verdicts],
        "table": table})
    print(markdown_table(table))


def reproduce(argv, *, command: str = "", prog: str = "reproduce") -> list[dict] | None:
    """The whole command: plan, run (cached runs reused), judge, report. Returns the report's claims (None for a
    dry run or --latency_only). Without --config, the default plan (DEFAULT_CONFIG)."""
    import torch

    from ..launch import launch_settings, run_plan

    argv = list(argv) if "--config" in argv else ["--config", str(DEFAULT_CONFIG), *argv]
    s = setup(argv, prog)
    out = Path(s.options.output_dir)
    if s.options.latency_only:
        latency_only(s, command)
        return None
    runs = planned_runs(s.plans)
    start = time.perf_counter()
    outcomes = run_plan(runs, **launch_settings(s.exp), dry_run=s.exp.dry_run)
    if s.exp.dry_run:
        todo = [r for r in runs if outcomes.get(r.run_dir) is None]
        pretrainings = sum(r.done_file == "pretraining_stats.json" for r in runs)
        print(f"{len(runs)} runs ({pretrainings} pre-trainings, {len(runs) - pretrainings} fine-tunes), "
              f"{len(runs) - len(todo)} cached; the {len(todo)} to run: about "
              f"{estimate_seconds(todo, s.exp.jobs) / 60:.0f} min with --jobs {s.exp.jobs} on the 2-core reference "
              "machine (docs/benchmarks.md's timings)"
              + ("" if bf16_available() else "; this machine has no bf16, so runs train in fp32: expect about twice "
                 "that (the default plan took 136 min on a 2-core AMD Zen 3 against 70 estimated)"))
        return None
    sizes = (f"{s.task.train_per_label} train / {s.task.test_per_label} test / {s.task.validation_per_label} "
             "validation per label")
    claims, plots = [], {}
    for group, make in (("1-2", claims_1_2), ("3", claim_3), ("4", claim_4)):
        if group in s.plans:
            more, pngs = make(s, outcomes, sizes, DIFFERS)
            claims += more
            plots.update(pngs)
    claims.sort(key=lambda c: c["claim"])
    hardware = (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}; "
                f"load average at the end {os.getloadavg()[0]:.1f}")
    plan = (f"{len(runs)} runs; pre-training seeds {s.exp.pretrain_seeds or ['(one)']}, fine-tuning seeds "
            f"{s.exp.seeds}, word-order control {'on' if s.exp.shuffled_control else 'off'}")
    write_report(out, {"command": command, "hardware": hardware, "plan": plan, "seeds": s.exp.seeds,
                       "pretrain_seeds": s.exp.pretrain_seeds, "task": s.task.task,
                       "wall_clock_s": time.perf_counter() - start, "rule": analysis.VERDICT_RULE,
                       "margins": {name: asdict(m) for name, m in MARGINS.items()}, "claims": claims}, plots)
    for claim in claims:
        print(f"claim {claim['claim']}: {claim['title']}: {claim['verdict']['verdict']}")
    print(f"wrote {out}/report.md, report.json and {', '.join(sorted(plots))}")
    return claims
