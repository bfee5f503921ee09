"""The claims as functions: typed run results in, a typed verdict out, by one rule stated before any run.

The unit of inference is the pre-training. A fine-tuning seed varies the classifier's start and the order of the
batches, not what pre-training learnt, so the fine-tuning seeds of one pre-training are averaged into one number
(its gap: pre-trained - scratch twin, paired by seed), and intervals are taken over pre-trainings: a mean over the
pre-trainings of a row (claim 1), a least-squares slope over every pre-training of every row (claims 2 and 3),
a mean over the pre-training seeds of the committee and the deep model (claim 4). Ten fine-tuning seeds on two
pre-trainings are two points, not twenty.

Verdict, the same for every claim (`VERDICT_RULE`): holds when the whole 95% t-interval is on the paper's side of
the threshold; does not hold when the whole interval stops short of threshold + margin; otherwise inconclusive,
and always inconclusive with fewer than `MIN_UNITS` pre-trainings in a row (or, for a slope, fewer than
`MIN_ROWS` rows on the x axis).
"""

import math
import statistics
from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Sequence

from scipy import stats

from .paper import MARGINS, Margin

CONFIDENCE = 0.95
MIN_UNITS = 3  # pre-trainings per row before any verdict but "inconclusive"
MIN_ROWS = 3  # distinct x values (rows) before a slope gets a verdict
FAILED_DROP = 0.10  # a run this far below the median validation accuracy of its arm's other runs in its row failed
HOLDS, DOES_NOT_HOLD, INCONCLUSIVE = "holds", "does not hold", "inconclusive"
ARMS = ("pretrained", "scratch", "shuffled")

VERDICT_RULE = f"""\
Every claim is one quantity with a direction, a threshold and a margin (the smallest effect that matters, never
larger than the paper's own effect; each margin's source is written beside it), set before any run.

- **The unit is the pre-training.** Each row has several pre-trainings (training seed and subset seed varied),
  each with its own scratch twin (same architecture and vocabulary, random weights). A pre-training's gap is the
  mean over its fine-tuning seeds of the paired difference pre-trained - scratch (same seed in both arms).
- An **effect** (claims 1 and 4) is the mean of the pre-trainings' gaps with its {CONFIDENCE:.0%} t-interval
  (n - 1 degrees of freedom, n pre-trainings); a **trend** (claims 2 and 3) is the least-squares slope of the
  pre-trainings' gaps against the row's x, with the {CONFIDENCE:.0%} t-interval of a slope (n - 2 degrees of
  freedom).

Verdict, the same for every claim: **holds** when the whole interval is on the paper's side of the threshold;
**does not hold** when the whole interval stops short of threshold + margin (the data rule out an effect that
matters in the paper's direction); otherwise **inconclusive**. Fewer than {MIN_UNITS} pre-trainings in a row, or
for a slope fewer than {MIN_ROWS} rows, are always inconclusive, however many fine-tuning seeds there are.
Fine-tuning chooses its learning rate and epoch on the validation split; the test split counts once, for the
chosen model. A fine-tuning run whose **validation** accuracy is more than {FAILED_DROP:.2f} below the median of
its arm's other runs in the same row is marked **failed**: it is listed, and its seed is left out of its
pre-training's paired differences.
"""


# -- typed run results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FineTuneResult:
    """One fine-tuning run as a claim reads it (its results.json): test accuracy of the model chosen on validation,
    and the choices that were made."""

    seed: int
    test_accuracy: float
    validation_accuracy: float | None = None
    learning_rate: float | None = None
    epoch: int | None = None
    grid_edges: tuple[str, ...] = ()
    failed: bool = False
    run_dir: str = ""

    @classmethod
    def from_results(cls, results: dict, run_dir="") -> "FineTuneResult":
        return cls(seed=results["seed"], test_accuracy=results["accuracy_final"],
                   validation_accuracy=results.get("validation_accuracy"), learning_rate=results.get("learning_rate"),
                   epoch=results.get("epoch", results.get("num_train_epochs")),  # not best_epoch: the test's
                   grid_edges=tuple(results.get("grid_edges") or ()), run_dir=str(run_dir))


@dataclass(frozen=True)
class Unit:
    """One pre-training (the unit of inference) with its fine-tunes, its scratch twin's and, with the word-order
    control, the fine-tunes of the same pre-training on word-shuffled paragraphs. `x`: the row's value on the
    claim's axis (W_s for claims 1 and 2, the share of the task's tokens missing for claim 3)."""

    row: str
    x: float
    pretrain_seed: int | None
    pretrained: tuple[FineTuneResult, ...]
    scratch: tuple[FineTuneResult, ...]
    shuffled: tuple[FineTuneResult, ...] = ()
    pretraining: dict = field(default_factory=dict, compare=False)  # pretraining_stats.json (W_s, context gain, ...)
    pretraining_dir: str = ""

    def arm(self, name: str) -> tuple[FineTuneResult, ...]:
        return getattr(self, name)

    def differences(self, a: str = "pretrained", b: str = "scratch") -> dict[int, float]:
        """{seed: test accuracy of arm a - arm b} over the seeds both ran and neither failed."""
        first = {r.seed: r for r in self.arm(a) if not r.failed}
        second = {r.seed: r for r in self.arm(b) if not r.failed}
        return {s: first[s].test_accuracy - second[s].test_accuracy for s in sorted(set(first) & set(second))}

    def gap(self, a: str = "pretrained", b: str = "scratch") -> float | None:
        """The unit's number: the mean paired difference over its fine-tuning seeds (None when none is left)."""
        differences = self.differences(a, b)
        return statistics.fmean(differences.values()) if differences else None


def mark_failed(units: Sequence[Unit], drop: float = FAILED_DROP) -> list[Unit]:
    """The units with every run marked failed whose validation accuracy is more than `drop` below the median of
    the other runs of its arm in its row (every pre-training of the row; needs 3 runs or more). Runs without a
    validation accuracy are never marked: test accuracy decides nothing."""
    pools: dict[tuple[str, str], list[tuple[int, int, float]]] = {}
    for index, unit in enumerate(units):
        for arm in ARMS:
            for position, run in enumerate(unit.arm(arm)):
                if run.validation_accuracy is not None:
                    pools.setdefault((unit.row, arm), []).append((index, position, run.validation_accuracy))
    failed = set()
    for (_, arm), runs in pools.items():
        if len(runs) < 3:
            continue
        for index, position, accuracy in runs:
            others = [a for i, p, a in runs if (i, p) != (index, position)]
            if accuracy < statistics.median(others) - drop:
                failed.add((index, arm, position))
    return [replace(unit, **{arm: tuple(replace(run, failed=(index, arm, position) in failed)
                                        for position, run in enumerate(unit.arm(arm))) for arm in ARMS})
            for index, unit in enumerate(units)]


# -- statistics (scipy's t distribution and least squares) ---------------------------------------------------


@dataclass(frozen=True)
class Estimate:
    """A quantity with its confidence interval over n units (nan bounds: too few units for an interval)."""

    value: float
    low: float
    high: float
    n: int
    kind: str  # "mean" or "slope"

    def text(self, spec: str = "+.3f") -> str:
        if math.isnan(self.value):
            return f"- (n = {self.n})"
        if math.isnan(self.low):
            return f"{self.value:{spec}} (n = {self.n}, no interval)"
        return f"{self.value:{spec}} [{self.low:{spec}}, {self.high:{spec}}] (n = {self.n})"


def mean_interval(values, confidence: float = CONFIDENCE) -> Estimate:
    """Mean and its t-interval (n - 1 degrees of freedom); no interval below 2 values, nan for none."""
    values = [float(v) for v in values]
    if not values:
        return Estimate(math.nan, math.nan, math.nan, 0, "mean")
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Estimate(mean, math.nan, math.nan, 1, "mean")
    half = stats.t.ppf((1 + confidence) / 2, len(values) - 1) * statistics.stdev(values) / math.sqrt(len(values))
    return Estimate(mean, mean - half, mean + half, len(values), "mean")


def slope_interval(x, y, confidence: float = CONFIDENCE) -> Estimate:
    """Least-squares slope of y on x and its t-interval (n - 2 degrees of freedom); no interval below 3 points or
    2 distinct x values."""
    x, y = [float(v) for v in x], [float(v) for v in y]
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} values, y {len(y)}")
    if len(set(x)) < 2:
        return Estimate(math.nan, math.nan, math.nan, len(x), "slope")
    fit = stats.linregress(x, y)
    if len(x) < 3:
        return Estimate(fit.slope, math.nan, math.nan, len(x), "slope")
    half = stats.t.ppf((1 + confidence) / 2, len(x) - 2) * fit.stderr
    return Estimate(fit.slope, fit.slope - half, fit.slope + half, len(x), "slope")


def r_squared(x, y) -> float | None:
    """How much of y a straight line in x explains (None when x or y is constant)."""
    if len(set(x)) < 2 or len(set(y)) < 2:
        return None
    return stats.linregress([float(v) for v in x], [float(v) for v in y]).rvalue ** 2


# -- the rule ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """One judged quantity: the estimate, the rule it was judged by, the verdict and, when the guard decided it,
    why (e.g. too few pre-trainings)."""

    quantity: str
    estimate: Estimate
    direction: int  # +1: the paper puts the quantity above the threshold; -1: below
    threshold: float
    margin: Margin
    verdict: str
    why: str = ""


def units_guard(units_per_row: dict, *, slope: bool) -> str:
    """Why no verdict may be given on these units ("" when one may): fewer than MIN_UNITS pre-trainings in a row,
    or for a slope fewer than MIN_ROWS rows."""
    if not units_per_row:
        return "no pre-training"
    thin = {row: n for row, n in units_per_row.items() if n < MIN_UNITS}
    if thin:
        row, n = next(iter(thin.items()))
        return f"{row} rests on {n} pre-training{'s' * (n != 1)}; a verdict needs {MIN_UNITS} per row"
    if slope and len(units_per_row) < MIN_ROWS:
        return f"a slope over {len(units_per_row)} rows; a verdict needs {MIN_ROWS} distinct x values"
    return ""


def judge(quantity: str, estimate: Estimate, *, direction: int, threshold: float, margin: Margin,
          why: str = "") -> Verdict:
    """The rule of `VERDICT_RULE` on one estimate; `why`: the guard's reason to stay inconclusive."""
    if direction not in (1, -1):
        raise ValueError(f"direction must be 1 or -1, got {direction}")
    if margin.value <= 0:
        raise ValueError(f"margin must be positive, got {margin.value}")
    if why or math.isnan(estimate.low):
        return Verdict(quantity, estimate, direction, threshold, margin, INCONCLUSIVE, why or "no interval")
    low, high = sorted((direction * estimate.low, direction * estimate.high))
    if low > direction * threshold:
        verdict = HOLDS
    elif high < direction * threshold + margin.value:
        verdict = DOES_NOT_HOLD
    else:
        verdict = INCONCLUSIVE
    return Verdict(quantity, estimate, direction, threshold, margin, verdict)


def combined_verdict(verdicts: Sequence[str]) -> str:
    """A claim made of parts: holds when every part holds, does not hold when any part does not."""
    if all(v == HOLDS for v in verdicts):
        return HOLDS
    return DOES_NOT_HOLD if DOES_NOT_HOLD in verdicts else INCONCLUSIVE


# -- the claims ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A named estimate the report shows beside a verdict without judging it (the control's split of the gap)."""

    name: str
    estimate: Estimate


@dataclass(frozen=True)
class ClaimResult:
    claim: int
    verdict: Verdict  # the claim's verdict (claim 4: its accuracy part, with the combined verdict)
    parts: tuple[Verdict, ...] = ()  # every judged part (claim 4), else the verdict alone
    split: tuple[Part, ...] = ()  # the word-order control: the gap from word statistics and from word order
    units: tuple[Unit, ...] = ()
    notes: tuple[str, ...] = ()


def _gaps(units, a="pretrained", b="scratch") -> list[tuple[Unit, float]]:
    return [(u, g) for u in units if (g := u.gap(a, b)) is not None]


def _control_split(units, fit) -> tuple[Part, ...]:
    """The gap split by the word-order control, each part over the pre-trainings that have the shuffled arm:
    from word statistics (shuffled - scratch) and from word order (pre-trained - shuffled)."""
    with_control = [u for u in units if u.shuffled]
    if not with_control:
        return ()
    return (Part("from word statistics (shuffled - scratch)", fit(_gaps(with_control, "shuffled", "scratch"))),
            Part("from word order (pre-trained - shuffled)", fit(_gaps(with_control, "pretrained", "shuffled"))))


def _per_row(units) -> dict:
    return dict(Counter(u.row for u in units))


def claim1(units: Sequence[Unit]) -> ClaimResult:
    """Pre-training pays off: the mean gap over the pre-trainings of the largest W_s is above 0."""
    units = mark_failed(units)
    top = [u for u in units if u.x == max(u.x for u in units)]
    mean_of = lambda pairs: mean_interval(g for _, g in pairs)  # noqa: E731
    verdict = judge(f"gap at W_s = {top[0].x:,.0f}", mean_of(_gaps(top)), direction=1, threshold=0.0,
                    margin=MARGINS["gap"], why=units_guard(_per_row(top), slope=False))
    return ClaimResult(1, verdict, (verdict,), _control_split(top, mean_of), tuple(units))


def _slope_claim(number: int, units, quantity: str, x_of, direction: int, margin: Margin) -> ClaimResult:
    units = mark_failed(units)
    slope_of = lambda pairs: slope_interval([x_of(u) for u, _ in pairs], [g for _, g in pairs])  # noqa: E731
    verdict = judge(quantity, slope_of(_gaps(units)), direction=direction, threshold=0.0, margin=margin,
                    why=units_guard(_per_row(units), slope=True))
    return ClaimResult(number, verdict, (verdict,), _control_split(units, slope_of), tuple(units))


def claim2(units: Sequence[Unit]) -> ClaimResult:
    """The gap grows with W_s: the slope of the pre-trainings' gaps against log10 W_s is above 0."""
    return _slope_claim(2, units, "slope of the gap per tenfold W_s", lambda u: math.log10(u.x), 1,
                        MARGINS["slope per decade"])


def claim3(units: Sequence[Unit]) -> ClaimResult:
    """The gap shrinks as task tokens go missing: the slope against each pre-training's missing share is below 0."""
    return _slope_claim(3, units, "slope of the gap per unit share of the task's tokens missing", lambda u: u.x, -1,
                        MARGINS["slope per missing share"])


@dataclass(frozen=True)
class CommitteeUnit:
    """Claim 4's unit: one pre-training seed of every shape (the deep model and each member), fine-tuned with the
    same seeds; the committee of fine-tuning seed s sums the members fine-tuned with seed s."""

    pretrain_seed: int | None
    deep: tuple[FineTuneResult, ...]
    members: dict  # member name -> tuple[FineTuneResult, ...] (pre-trained)
    committee: dict  # fine-tuning seed -> test accuracy of the committee of pre-trained members
    committee_scratch: dict = field(default_factory=dict)  # ... of the members without pre-training (Table 9)


@dataclass(frozen=True)
class Latency:
    """Per-repeat milliseconds of the deep model and the committee at one batch size, measured one way."""

    way: str  # "total work" (members one after another) or "side by side" (members on threads / CUDA streams)
    batch_size: int
    deep_ms: tuple[float, ...]
    committee_ms: tuple[float, ...]
    how: str = ""

    def log_ratios(self) -> list[float]:
        return [math.log(c / d) for c, d in zip(self.committee_ms, self.deep_ms)]


SIDE_BY_SIDE, TOTAL_WORK = "side by side", "total work"


def _unit_mean(pairs: dict) -> float | None:
    return statistics.fmean(pairs.values()) if pairs else None


def claim4(units: Sequence[CommitteeUnit], latencies: Sequence[Latency]) -> ClaimResult:
    """A soft committee of shallow members matches the deep model (not more than the margin below it, over
    pre-training seeds) and is faster side by side (log latency ratio below 0, over repeats). The total-work
    latency and whether the deep model beats a single member are reported beside the verdict, not in it."""
    why = units_guard({"claim 4": len(units)}, slope=False)
    # the deep model's failed runs, judged on validation over every pre-training seed, as for the other claims
    marked = mark_failed([Unit("deep", 0, u.pretrain_seed, u.deep, ()) for u in units])
    units = [replace(u, deep=m.pretrained) for u, m in zip(units, marked)]

    def versus_deep(committees_of) -> Estimate:
        per_unit = []
        for unit in units:
            deep = {r.seed: r.test_accuracy for r in unit.deep if not r.failed}
            committee = committees_of(unit)
            per_unit.append(_unit_mean({s: committee[s] - deep[s] for s in sorted(set(deep) & set(committee))}))
        return mean_interval(v for v in per_unit if v is not None)

    matching = MARGINS["matching"]
    parts = [judge("committee of pre-trained members - deep model", versus_deep(lambda u: u.committee),
                   direction=1, threshold=-matching.value, margin=matching, why=why)]
    if any(u.committee_scratch for u in units):
        parts.append(judge("committee of members without pre-training - pre-trained deep model (Table 9)",
                           versus_deep(lambda u: u.committee_scratch), direction=1, threshold=-matching.value,
                           margin=matching, why=why))
    for latency in latencies:
        repeats = len(latency.deep_ms)
        parts.append(judge(f"log latency ratio committee / deep, {latency.way}, batch {latency.batch_size}",
                           mean_interval(latency.log_ratios()), direction=-1, threshold=0.0,
                           margin=MARGINS["log latency"], why="" if repeats >= 3 else f"{repeats} repeats"))
    judged = [parts[0]] + [p for p in parts if p.quantity.startswith("log latency") and SIDE_BY_SIDE in p.quantity]
    # too few pre-trainings leave the claim inconclusive, whatever the latency (measured on repeats) says
    combined = replace(parts[0], verdict=INCONCLUSIVE if why else combined_verdict([p.verdict for p in judged]))
    return ClaimResult(4, combined, tuple(parts), (deep_against_members(units),))


def deep_against_members(units: Sequence[CommitteeUnit]) -> Part:
    """Whether the deep baseline is fair: deep - the best single member (the member with the highest mean), the
    mean over pre-training seeds of each seed's mean paired difference."""
    names = sorted({name for u in units for name in u.members})
    if not names:
        return Part("deep model - best single member", mean_interval([]))
    best = max(names, key=lambda n: statistics.fmean(r.test_accuracy for u in units for r in u.members.get(n, ())))
    per_unit = []
    for unit in units:
        deep = {r.seed: r.test_accuracy for r in unit.deep}
        member = {r.seed: r.test_accuracy for r in unit.members.get(best, ())}
        per_unit.append(_unit_mean({s: deep[s] - member[s] for s in sorted(set(deep) & set(member))}))
    return Part(f"deep model - best single member ({best})", mean_interval(v for v in per_unit if v is not None))


def beats(part: Part) -> str:
    """'yes' when the whole interval is above 0, 'no' when it is below, else 'unclear'."""
    if math.isnan(part.estimate.low):
        return "unclear"
    return "yes" if part.estimate.low > 0 else "no" if part.estimate.high < 0 else "unclear"
