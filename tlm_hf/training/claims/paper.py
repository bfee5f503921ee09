"""The paper's numbers, each with its table and row, and the margins of the claims, each with its source.

Everything a verdict compares against lives here as data: the report quotes it, the claim functions read the
margins, and a test checks that no margin is larger than the paper's own effect (a margin that large could call
the paper's own result "does not hold").
"""

import math
from dataclasses import dataclass

from scipy import stats


@dataclass(frozen=True)
class PaperNumber:
    """One number of the paper and where it stands."""

    value: float
    table: str
    row: str


def _accuracy(table: str, task: str, sizes: str, by_w_s: dict) -> dict[int, PaperNumber]:
    return {w_s: PaperNumber(value, table, f"{task}, {sizes}, BERT-6, "
                             + ("no pre-training" if w_s == 0 else f"W_s {w_s:,} random"))
            for w_s, value in by_w_s.items()}


# Test accuracy by W_s (0: without pre-training); BERT-6, bert-base-uncased vocabulary, Wikipedia, 50 epochs.
ACCURACY = {
    "dbpedia_14": _accuracy("Table 6", "DBpedia-14", "100 train / 100 test per label",
                            {0: 0.938, 5000: 0.957, 10000: 0.972, 20000: 0.979, 90000: 0.984}),
    "ag_news": _accuracy("Table 5", "AG News", "1,000 train / 1,000 test per label",
                         {0: 0.840, 2000: 0.854, 5000: 0.861, 40000: 0.878, 90000: 0.891}),
}

# Table 7 (DBpedia-14, BERT-6): T_M (task tokens missing from W_s, of T_DBP = 15,084) and accuracy.
T_DBP = 15_084
TABLE7 = {
    "20,000 random": (PaperNumber(249, "Table 7", "W_s 20,000 random, T_M"),
                      PaperNumber(0.979, "Table 7", "W_s 20,000 random, accuracy")),
    "20,000 avoid": (PaperNumber(10_250, "Table 7", "W_s 20,000 avoid, T_M"),
                     PaperNumber(0.948, "Table 7", "W_s 20,000 avoid, accuracy")),
    "5,000 random": (PaperNumber(1_470, "Table 7", "W_s 5,000 random, T_M"),
                     PaperNumber(0.957, "Table 7", "W_s 5,000 random, accuracy")),
    "0 (no pre-training)": (PaperNumber(T_DBP, "Table 7", "no pre-training, T_M = T_DBP"),
                            PaperNumber(0.938, "Table 7", "no pre-training, accuracy")),
}

# Tables 8 and 9: a soft committee of shallow members against BERT-6 (committee, deep).
COMMITTEES = {
    "FewRel 10 labels, five pre-trained BERT-1": (PaperNumber(0.866, "Table 8", "FewRel 10 labels, committee"),
                                                  PaperNumber(0.866, "Table 8", "FewRel 10 labels, BERT-6")),
    "FewRel 64 labels, five pre-trained BERT-1": (PaperNumber(0.634, "Table 8", "FewRel 64 labels, committee"),
                                                  PaperNumber(0.625, "Table 8", "FewRel 64 labels, BERT-6")),
    "AG News, three BERT-1 without pre-training (vs BERT-6 pre-trained on W_s 5,000)": (
        PaperNumber(0.868, "Table 9", "AG News, committee without pre-training"),
        PaperNumber(0.861, "Table 9", "AG News, BERT-6 pre-trained on W_s 5,000")),
}
# The paper's latency argument: layers on the longest path (4 per transformer block, 1 per CL, plus 1).
LAYERS = {"deep": PaperNumber(25, "Section 5 (Table 8's text)", "BERT-6: 6 x 4 + 1"),
          "member": PaperNumber(7, "Section 5 (Table 8's text)", "BERT-1 with two CLs: 4 + 2 + 1")}


def gap_at(task: str, w_s: int) -> float:
    """The paper's gap (pre-trained - without pre-training) at one W_s."""
    return ACCURACY[task][w_s].value - ACCURACY[task][0].value


def slope_per_decade(task: str) -> float:
    """The paper's own claim-2 effect: the least-squares slope of its gaps against log10 W_s."""
    rows = [w for w in ACCURACY[task] if w]
    return stats.linregress([math.log10(w) for w in rows], [gap_at(task, w) for w in rows]).slope


def slope_per_missing_share() -> float:
    """The paper's own claim-3 effect: Table 7's accuracy change per unit share of the task's tokens missing
    (random against avoid, both W_s 20,000)."""
    (tm_random, acc_random), (tm_avoid, acc_avoid) = TABLE7["20,000 random"], TABLE7["20,000 avoid"]
    return (acc_avoid.value - acc_random.value) / ((tm_avoid.value - tm_random.value) / T_DBP)


@dataclass(frozen=True)
class Margin:
    """The smallest effect that matters for a claim, fixed before any run, with the paper's own effect beside it
    (a margin never exceeds it) and where both come from."""

    value: float
    paper_effect: float
    source: str


MARGINS = {
    "gap": Margin(0.01, gap_at("dbpedia_14", 10_000),
                  "1 point of accuracy; the paper's own gap at W_s 10,000 is +0.034 (Table 6, DBpedia-14: 0.972 "
                  "against 0.938)"),
    "slope per decade": Margin(0.01, slope_per_decade("dbpedia_14"),
                               "1 point per tenfold W_s; the paper's own slope is about +0.020 per tenfold W_s (Table "
                               "6, DBpedia-14, the gaps at W_s 5,000 to 90,000 against log10 W_s)"),
    "slope per missing share": Margin(0.02, -slope_per_missing_share(),
                                      "2 points per unit share of the task's tokens missing (0.2 point per 10 "
                                      "points); the paper's own effect is about 0.047 (Table 7: T_M 249 -> 10,250 "
                                      "of 15,084 lowers accuracy 0.979 -> 0.948)"),
    "matching": Margin(0.01, gap_at("ag_news", 5000),
                       "a committee matches when it is at most 1 point below the deep model, less than the paper's "
                       "own pre-training gap at W_s 5,000 (+0.021, Table 5, AG News) that Table 9 weighs it against; "
                       "the paper's committees are 0.000 to +0.009 from BERT-6 (Tables 8, 9)"),
    "log latency": Margin(math.log(1.1), math.log(LAYERS["deep"].value / LAYERS["member"].value),
                          "10% of latency (log 1.1); the paper's own argument is 25 layers against 7, a ratio of "
                          "3.6 (log 1.27)"),
}
