"""The paper's experiment matrix: cached runs, rows of a results table, and the table and plot files.

A row is one pre-training subset (W_s paragraphs chosen a random, custom or avoid way) with its token
statistics, and test accuracy over seeds for two arms: fine-tuned from that pre-training, and from
scratch (same architecture, random initialisation). Gap = mean accuracy pre-trained - mean scratch.
"""

import csv
import hashlib
import io
import json
import statistics
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from .settings import SettingsError, atomic_write

ROW_FIELDS = (
    "subset", "W_s", "T_W", "T_C", "T_M", "acc_pretrained_mean", "acc_pretrained_std", "acc_scratch_mean",
    "acc_scratch_std", "gap", "acc_pretrained_best_mean", "acc_scratch_best_mean", "seeds",
)


@dataclass
class ExperimentSettings:
    """The settings of train/experiment.py beside the corpus, task and model ones."""

    output_dir: str | None = None
    # -- rows: one per entry of w_s; subset, learning_rate and weight_decay per row, or one value for all
    w_s: list[str] = field(default_factory=lambda: ["5000"])  # "all": every paragraph passing a custom/avoid filter
    subset: list[str] = field(default_factory=lambda: ["random"])  # random, custom or avoid
    learning_rate: list[float] = field(default_factory=lambda: [5e-5])  # fine-tuning the pre-trained arm
    weight_decay: list[float] = field(default_factory=lambda: [1e-2])
    scratch_learning_rate: float = 5e-5  # the W_s = 0 row of the appendix tables
    scratch_weight_decay: float = 1e-2
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])  # fine-tuning seeds, >= 5 in the paper
    subset_seed: int = 42
    avoid_fraction: float = 0.5
    # -- the paper's recipe: pre-training 50 epochs, lr 5.5e-5, wd 1e-2; batch 32 everywhere
    pretrain_epochs: float = 50
    pretrain_learning_rate: float = 5.5e-5
    pretrain_weight_decay: float = 1e-2
    finetune_epochs: float = 50
    batch_size: int = 32
    # -- how runs are started
    launcher: str = "python"  # or e.g. "accelerate launch --num_processes 2"
    # extra TrainingArguments flags for every run (speed settings: they are not part of the cache key)
    trainer_args: str | None = None  # e.g. "--dataloader_num_workers 2"
    dry_run: bool = False  # list the runs (cached or to start) and their folders, start nothing


def broadcast_rows(exp: ExperimentSettings) -> list[dict]:
    """One dict per table row; a list given with one value applies to every row."""
    columns = dict(w_s=exp.w_s, subset=exp.subset, learning_rate=exp.learning_rate, weight_decay=exp.weight_decay)
    n = len(exp.w_s)
    for name, values in columns.items():
        if len(values) not in (1, n):
            raise SettingsError(f"{name} has {len(values)} values for {n} rows (w_s); give one value or {n}")
    return [{name: values[i if len(values) > 1 else 0] for name, values in columns.items()} for i in range(n)]


def run_key(settings: dict) -> str:
    """A short hash of a run's settings: equal settings, equal key, so a finished run is found again."""
    canonical = json.dumps(settings, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:10]


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single seed)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table_row(subset: str, stats: dict, pretrained: list[dict], scratch: list[dict]) -> dict:
    """One row from the subset's pretraining_stats.json and the fine-tunes' results.json of both arms.

    Accuracies are the final-epoch test accuracy, as the paper reports; best-epoch means come along.
    """
    pre_mean, pre_std = _mean_std([r["accuracy_final"] for r in pretrained])
    scratch_mean, scratch_std = _mean_std([r["accuracy_final"] for r in scratch])
    return {
        "subset": subset, "W_s": stats["W_s"], "T_W": stats["T_W"], "T_C": stats.get("T_C"),
        "T_M": stats.get("T_M"), "acc_pretrained_mean": pre_mean, "acc_pretrained_std": pre_std,
        "acc_scratch_mean": scratch_mean, "acc_scratch_std": scratch_std, "gap": pre_mean - scratch_mean,
        "acc_pretrained_best_mean": statistics.fmean(r["accuracy_best"] for r in pretrained),
        "acc_scratch_best_mean": statistics.fmean(r["accuracy_best"] for r in scratch),
        "seeds": sorted(r["seed"] for r in pretrained),
    }


def markdown_table(rows: list[dict], title: str = "") -> str:
    """The paper's table shape: W_s, T_W, T_M, accuracy mean ± std of both arms, gap."""
    lines = [f"{title}\n" if title else ""]
    lines.append("| subset | W_s | T_W | T_M | Acc. pre-trained | Acc. scratch | Gap |")
    lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        t_m = "-" if r["T_M"] is None else f"{r['T_M']:,}"
        lines.append(
            f"| {r['subset']} | {r['W_s']:,} | {r['T_W']:,} | {t_m} | "
            f"{r['acc_pretrained_mean']:.3f} ± {r['acc_pretrained_std']:.3f} | "
            f"{r['acc_scratch_mean']:.3f} ± {r['acc_scratch_std']:.3f} | {r['gap']:+.3f} |"
        )
    return "\n".join(lines).lstrip("\n") + "\n"


def _csv_text(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ROW_FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({**r, "seeds": " ".join(map(str, r["seeds"]))})
    return out.getvalue()


def plot_results(rows: list[dict], title: str = "") -> bytes:
    """PNG: accuracy of both arms (mean ± std over seeds) and the gap against W_s, one marker per subset kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (acc_ax, gap_ax) = plt.subplots(2, 1, figsize=(6, 6), sharex=True, height_ratios=[2, 1])
    markers = dict(random="o", custom="s", avoid="^")
    for kind in dict.fromkeys(r["subset"] for r in rows):
        part = sorted((r for r in rows if r["subset"] == kind), key=lambda r: r["W_s"])
        w_s = [r["W_s"] for r in part]
        marker = markers.get(kind, "o")
        acc_ax.errorbar(w_s, [r["acc_pretrained_mean"] for r in part], [r["acc_pretrained_std"] for r in part],
                        marker=marker, capsize=3, color="C0", label=f"pre-trained ({kind})")
        acc_ax.errorbar(w_s, [r["acc_scratch_mean"] for r in part], [r["acc_scratch_std"] for r in part],
                        marker=marker, capsize=3, color="C1", linestyle="--", label=f"scratch ({kind})")
        gap_ax.plot(w_s, [r["gap"] for r in part], marker=marker, color="C2", label=kind)
    gap_ax.axhline(0, color="grey", linewidth=0.8)
    acc_ax.set_ylabel("test accuracy")
    acc_ax.legend(fontsize="small")
    acc_ax.set_title("\n".join(textwrap.wrap(title, 80)), fontsize="small")
    gap_ax.set_ylabel("gap")
    gap_ax.set_xlabel("W_s (pre-training paragraphs)")
    gap_ax.set_xscale("log")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=120)
    plt.close(fig)
    return out.getvalue()


def write_results(rows: list[dict], out_dir, title: str = "") -> None:
    """results.json (list of rows), results.csv, results.md and results.png in out_dir, each atomically."""
    out_dir = Path(out_dir)
    atomic_write(out_dir / "results.json", json.dumps(rows, indent=2) + "\n")
    atomic_write(out_dir / "results.csv", _csv_text(rows))
    atomic_write(out_dir / "results.md", markdown_table(rows, title))
    atomic_write(out_dir / "results.png", plot_results(rows, title))
