"""The paper's claims as verdicts: one rule (a 95% t-interval against a threshold and a margin) for every claim.

An effect is measured per seed (a pre-trained minus a scratch accuracy, a committee minus a deep model) and its
mean gets a t-interval over seeds; a trend is the least-squares slope over every (row, seed) point, with the
t-interval of a slope. Each claim states which side of a threshold the paper puts its quantity on, and how far
beyond the threshold an effect must be to matter (the margin); the verdict then reads the interval alone:

- holds: the whole interval lies on the paper's side of the threshold;
- does not hold: the whole interval lies short of threshold + margin (on the paper's side): the data rule out an
  effect that matters in the paper's direction;
- inconclusive at this many seeds: neither (the interval is too wide), or fewer than `MIN_SEEDS` points.

A run that failed to train (far below the other seeds of its arm) is shown in the report and left out of the
interval rather than averaged into it: one failed scratch run alone can fake a gap of +0.17.
"""

import io
import math
import statistics
from dataclasses import asdict, dataclass


CONFIDENCE = 0.95
MIN_SEEDS = 3
# a run is marked failed when its accuracy is this far below the median of its arm's other seeds in the row
FAILED_DROP = 0.10

HOLDS, DOES_NOT_HOLD, INCONCLUSIVE = "holds", "does not hold", "inconclusive at this many seeds"

VERDICT_RULE = f"""\
Every claim is one quantity with a direction, a threshold and a margin (the smallest effect that matters), set
before any run:

- an **effect** (claims 1 and 4) is measured per seed, as a paired difference of test accuracies (same seed in
  both arms), and summarised by its mean with a {CONFIDENCE:.0%} t-interval over seeds;
- a **trend** (claims 2 and 3) is the least-squares slope of the per-seed gap over every (row, seed) point, with
  the {CONFIDENCE:.0%} t-interval of a slope (n - 2 degrees of freedom).

Verdict, the same for every claim: **holds** when the whole interval is on the paper's side of the threshold;
**does not hold** when the whole interval stops short of threshold + margin (the data rule out an effect that
matters in the paper's direction); otherwise **inconclusive at this many seeds**. Fewer than {MIN_SEEDS} seeds
are always inconclusive. A fine-tuning run whose test accuracy is more than {FAILED_DROP:.2f} below the median of
its arm's other seeds in the same row is marked **failed**: it is listed, and its seed is left out of that row's
paired differences instead of being averaged into a gap.
"""


@dataclass(frozen=True)
class Estimate:
    """A quantity with its confidence interval over n points (seeds, or (row, seed) points for a slope)."""

    value: float
    low: float
    high: float
    n: int
    kind: str  # "mean" or "slope"

    def text(self, spec: str = "+.3f") -> str:
        if math.isnan(self.low):
            return f"{self.value:{spec}} (n = {self.n}, no interval)"
        return f"{self.value:{spec}} [{self.low:{spec}}, {self.high:{spec}}] (n = {self.n})"


def _incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b), by its continued fraction (Lentz's method)."""
    if x <= 0 or x >= 1:
        return 0.0 if x <= 0 else 1.0
    if x > (a + 1) / (a + b + 2):  # the fraction converges fast below this point; use the symmetry above it
        return 1.0 - _incomplete_beta(b, a, 1 - x)
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)) / a

    def guarded(value: float) -> float:
        return value if abs(value) > 1e-300 else 1e-300

    c, d = 1.0, 1.0 / guarded(1.0 - (a + b) * x / (a + 1))
    fraction = d
    for m in range(1, 400):
        for numerator in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                          -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 / guarded(1.0 + numerator * d)
            c = guarded(1.0 + numerator / c)
            fraction *= c * d
        if abs(1.0 - c * d) < 1e-14:
            break
    return front * fraction


def t_quantile(p: float, df: int) -> float:
    """The p-quantile of Student's t with df degrees of freedom (bisection on its CDF; no scipy needed)."""
    if not 0 < p < 1 or df < 1:
        raise ValueError(f"t_quantile needs 0 < p < 1 and df >= 1, got p={p}, df={df}")

    def cdf(t: float) -> float:
        tail = 0.5 * _incomplete_beta(df / 2, 0.5, df / (df + t * t))
        return 1 - tail if t > 0 else tail

    low, high = -1e3, 1e3
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if cdf(middle) < p else (low, middle)
    return (low + high) / 2


def _linear_fit(x: list[float], y: list[float]) -> tuple[float, float, float]:
    """Least-squares slope, intercept and the correlation coefficient r."""
    mx, my = statistics.fmean(x), statistics.fmean(y)
    sxx = sum((a - mx) ** 2 for a in x)
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    syy = sum((b - my) ** 2 for b in y)
    slope = sxy / sxx
    return slope, my - slope * mx, sxy / math.sqrt(sxx * syy) if syy else 0.0


def mean_interval(values, confidence: float = CONFIDENCE) -> Estimate:
    """Mean and its t-interval (n - 1 degrees of freedom); no interval (nan) below 2 values."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("no values to estimate a mean from")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Estimate(mean, math.nan, math.nan, len(values), "mean")
    half = t_quantile((1 + confidence) / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Estimate(mean, mean - half, mean + half, len(values), "mean")


def slope_interval(x, y, confidence: float = CONFIDENCE) -> Estimate:
    """Least-squares slope of y on x and its t-interval (n - 2 degrees of freedom); no interval below 3 points."""
    x, y = [float(v) for v in x], [float(v) for v in y]
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} values, y {len(y)}")
    if len(set(x)) < 2:
        raise ValueError("a slope needs at least two distinct x values (rows)")
    slope, intercept, _ = _linear_fit(x, y)
    if len(x) < 3:
        return Estimate(slope, math.nan, math.nan, len(x), "slope")
    residual = sum((b - intercept - slope * a) ** 2 for a, b in zip(x, y)) / (len(x) - 2)
    mx = statistics.fmean(x)
    stderr = math.sqrt(residual / sum((a - mx) ** 2 for a in x))
    half = t_quantile((1 + confidence) / 2, len(x) - 2) * stderr
    return Estimate(slope, slope - half, slope + half, len(x), "slope")


def verdict(estimate: Estimate, *, direction: int = 1, threshold: float = 0.0, margin: float,
            seeds: int | None = None) -> str:
    """holds / does not hold / inconclusive, by the module's rule; direction +1 (the paper says above the
    threshold) or -1 (below). seeds: how many seeds the estimate rests on (default its n, right for a mean over
    seeds; a slope over rows x seeds passes the seeds per row)."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be 1 or -1, got {direction}")
    if margin <= 0:
        raise ValueError(f"margin must be positive, got {margin}")
    if min(estimate.n, estimate.n if seeds is None else seeds) < MIN_SEEDS or math.isnan(estimate.low):
        return INCONCLUSIVE
    low, high = sorted((direction * estimate.low, direction * estimate.high))
    if low > direction * threshold:
        return HOLDS
    if high < direction * threshold + margin:
        return DOES_NOT_HOLD
    return INCONCLUSIVE


def combined_verdict(verdicts) -> str:
    """A claim made of parts: holds when every part holds, does not hold when any part does not."""
    verdicts = list(verdicts)
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    return DOES_NOT_HOLD if DOES_NOT_HOLD in verdicts else INCONCLUSIVE


def failed_seeds(accuracies: dict, drop: float = FAILED_DROP) -> set:
    """Seeds whose accuracy is more than `drop` below the median of the other seeds (needs 3 seeds or more)."""
    failed = set()
    if len(accuracies) < 3:
        return failed
    for seed, accuracy in accuracies.items():
        others = [a for s, a in accuracies.items() if s != seed]
        if accuracy < statistics.median(others) - drop:
            failed.add(seed)
    return failed


def paired_differences(a: dict, b: dict, exclude=()) -> dict:
    """{seed: a[seed] - b[seed]} over the seeds both have, less `exclude`."""
    return {seed: a[seed] - b[seed] for seed in sorted(set(a) & set(b)) if seed not in set(exclude)}


def judge(estimate: Estimate, **rule) -> dict:
    """The estimate, the rule it was judged by and the verdict, as one JSON-ready dict."""
    return {**asdict(estimate), **rule, "verdict": verdict(estimate, **rule)}


def r_squared(x, y) -> float | None:
    """How much of y a straight line in x explains (None when x or y is constant)."""
    if len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return _linear_fit([float(v) for v in x], [float(v) for v in y])[2] ** 2


# -- the report: report.md (rule first, then each claim), report.json (every number), one PNG per claim --------


def line_plot(panels: list[dict], *, title: str, xlabel: str, xscale: str = "linear", sharex: bool = True) -> bytes:
    """A PNG of stacked panels, sharing x unless told: each panel {"ylabel", "series": [{"label", "x", "y", "yerr"?,
    "style"?}], "hline"?: y}; yerr is a (low, high) pair of lists, e.g. a confidence interval; x may be names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(panels), 1, figsize=(6, 2.8 * len(panels) + 0.6), sharex=sharex, squeeze=False)
    for ax, panel in zip(axes[:, 0], panels):
        for series in panel["series"]:
            yerr = series.get("yerr")
            if yerr is not None:
                yerr = [[y - low for y, low in zip(series["y"], yerr[0])],
                        [high - y for y, high in zip(series["y"], yerr[1])]]
            ax.errorbar(series["x"], series["y"], yerr=yerr, label=series["label"], capsize=3,
                        **series.get("style", {"marker": "o"}))
        if panel.get("hline") is not None:
            ax.axhline(panel["hline"], color="grey", linewidth=0.8)
        ax.set_ylabel(panel["ylabel"])
        ax.legend(fontsize="x-small")
        if any(isinstance(x, str) for series in panel["series"] for x in series["x"]):
            ax.tick_params(axis="x", labelrotation=15, labelsize="small")
    axes[0, 0].set_title(title, fontsize="small")
    axes[-1, 0].set_xlabel(xlabel)
    axes[-1, 0].set_xscale(xscale)
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=110)
    plt.close(fig)
    return out.getvalue()


def markdown_table(table: dict) -> str:
    """A table {"title", "columns", "rows"} (as the report's JSON holds it) as markdown, title first."""
    return f"**{table['title']}**\n\n{_table(table)}\n"


def _table(table: dict) -> str:
    lines = ["| " + " | ".join(table["columns"]) + " |", "|" + " --- |" * len(table["columns"])]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in table["rows"]]
    return "\n".join(lines)


def claim_markdown(claim: dict) -> str:
    """One claim's section: statement, verdict, paper and ours side by side, what differs, the runs, the plot."""
    judged = claim["verdict"]
    lines = [f"## Claim {claim['claim']}: {claim['title']} — **{judged['verdict']}**", "", claim["statement"], ""]
    for part in claim.get("parts", [judged]):
        estimate = Estimate(part["value"], part["low"], part["high"], part["n"], part["kind"])
        lines.append(f"- {part.get('name', claim['quantity'])}: {estimate.text(part.get('format', '+.3f'))}; the "
                     f"paper's side: {'above' if part['direction'] > 0 else 'below'} {part['threshold']:+.3g}, margin "
                     f"{part['margin']:.3g} -> **{part['verdict']}**")
    lines += ["", f"Paper: {claim['paper']}", "", f"Ours: {claim['setting']}", ""]
    for table in claim.get("tables", []):
        lines += [f"**{table['title']}**", "", _table(table), ""]
    if claim.get("failed_runs"):
        lines += ["Failed runs (left out of the interval): " + "; ".join(claim["failed_runs"]), ""]
    if claim.get("notes"):
        lines += [*(f"- {note}" for note in claim["notes"]), ""]
    if claim.get("differs"):
        lines += ["What differs from the paper, and why:", "", *(f"- {item}" for item in claim["differs"]), ""]
    if claim.get("plot"):
        lines += [f"![claim {claim['claim']}]({claim['plot']})", ""]
    seconds = claim.get("wall_clock_s")
    if seconds is not None:
        lines += [f"Wall-clock of this claim's runs in this invocation: {seconds / 60:.1f} min "
                  f"(cached runs count 0).", ""]
    return "\n".join(lines)


def report_markdown(report: dict) -> str:
    """report.md: how it was made, the verdict rule (before any number), a summary, then each claim."""
    lines = ["# The paper's claims at laptop scale", "", f"Command: `{report['command']}`", "",
             f"Hardware: {report['hardware']}", "", "## Verdict rule", "", VERDICT_RULE, "## Summary", "",
             "| claim | verdict | wall-clock of its new runs (min; cached runs count 0) |", "| --- | --- | --- |"]
    for claim in report["claims"]:
        seconds = claim.get("wall_clock_s")
        lines.append(f"| {claim['claim']}: {claim['title']} | {claim['verdict']['verdict']} | "
                     f"{'-' if seconds is None else f'{seconds / 60:.1f}'} |")
    lines.append("")
    lines += [claim_markdown(claim) for claim in report["claims"]]
    return "\n".join(lines)


def write_report(out_dir, report: dict, plots: dict[str, bytes]) -> None:
    """report.md, the PNGs it links and report.json (written last: its presence marks a finished report)."""
    import json
    from pathlib import Path

    from .runs import atomic_write

    out_dir = Path(out_dir)
    for name, png in plots.items():
        atomic_write(out_dir / name, png)
    atomic_write(out_dir / "report.md", report_markdown(report))
    atomic_write(out_dir / "report.json", json.dumps(report, indent=2, default=str) + "\n")
