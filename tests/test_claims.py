"""The claims as functions (tlm_hf.training.claims): the verdict rule over pre-training units on synthetic results,
the paper's numbers and margins, and train/reproduce.py's report on a tiny run."""

import json
import math
import re
import runpy
import sys

import pytest
import yaml
from training_helpers import REPO, tiny_files

from tlm_hf.training.claims import analysis, paper
from tlm_hf.training.claims.analysis import (
    DOES_NOT_HOLD,
    HOLDS,
    INCONCLUSIVE,
    FineTuneResult,
    Latency,
    Unit,
    CommitteeUnit,
)


def runs(accuracies, seeds=None, validation=None) -> tuple:
    seeds = seeds or range(len(accuracies))
    validation = validation or [0.8] * len(accuracies)
    return tuple(FineTuneResult(seed=s, test_accuracy=a, validation_accuracy=v)
                 for s, a, v in zip(seeds, accuracies, validation))


def unit(row, x, pretrain_seed, gap, *, seeds=3, scratch=0.80, shuffled_gap=None, noise=0.002) -> Unit:
    """A pre-training whose fine-tunes beat its scratch twin by `gap` (a little noise per seed)."""
    wobble = [noise * ((s % 3) - 1) for s in range(seeds)]
    return Unit(row=row, x=x, pretrain_seed=pretrain_seed,
                pretrained=runs([scratch + gap + w for w in wobble]), scratch=runs([scratch - w for w in wobble]),
                shuffled=() if shuffled_gap is None else runs([scratch + shuffled_gap + w for w in wobble]))


def judged_mean(values, **rule):
    margin = paper.Margin(rule.pop("margin", 0.01), 0.03, "test")
    return analysis.judge("q", analysis.mean_interval(values), margin=margin,
                          **{"direction": 1, "threshold": 0.0, **rule}).verdict


def test_intervals_use_the_t_distribution():
    # two-sided 95% critical values of Student's t for 2 and 4 degrees of freedom: 4.303, 2.776
    estimate = analysis.mean_interval([1.0, 2.0, 3.0])  # mean 2, sd 1, n 3
    assert (estimate.high - 2) == pytest.approx(4.303 / math.sqrt(3), abs=1e-3)
    # a slope's interval: t with n - 2 = 4 degrees of freedom times the slope's standard error
    x, y = [0, 1, 2, 3, 4, 5], [0.1, 1.2, 1.9, 3.1, 4.0, 4.9]
    slope = analysis.slope_interval(x, y)
    residuals = [b - (slope.value * a + (sum(y) - slope.value * sum(x)) / 6) for a, b in zip(x, y)]
    stderr = math.sqrt(sum(r * r for r in residuals) / 4 / sum((a - 2.5) ** 2 for a in x))
    assert slope.value == pytest.approx(0.96) and slope.n == 6
    assert slope.high - slope.value == pytest.approx(2.776 * stderr, rel=1e-3)


def test_a_clear_gap_holds_an_absent_one_does_not_and_a_noisy_one_is_inconclusive():
    assert judged_mean([0.050, 0.062, 0.055, 0.058]) == HOLDS
    assert judged_mean([0.001, -0.002, 0.0005, 0.0, -0.001]) == DOES_NOT_HOLD
    assert judged_mean([0.10, -0.08, 0.05]) == INCONCLUSIVE


def test_two_pretrainings_per_row_with_ten_finetuning_seeds_each_are_inconclusive_never_holds():
    # a large, clean gap on every fine-tuning seed: 20 paired differences per row, but 2 pre-trainings
    rows = [("W_s 1,000", 1000, 0.02), ("W_s 2,000", 2000, 0.05), ("W_s 10,000", 10000, 0.10)]
    units = [unit(name, x, p, gap, seeds=10) for name, x, gap in rows for p in (1, 2)]
    for claim in (analysis.claim1(units), analysis.claim2(units)):
        assert claim.verdict.verdict == INCONCLUSIVE
        assert "2 pre-trainings" in claim.verdict.why
    # a third pre-training per row is what the verdict needs
    units += [unit(name, x, 3, gap, seeds=10) for name, x, gap in rows]
    assert analysis.claim1(units).verdict.verdict == HOLDS
    assert analysis.claim2(units).verdict.verdict == HOLDS
    assert analysis.claim2(units).verdict.estimate.n == 9  # one point per pre-training, not per seed


def test_a_slope_needs_three_rows_on_its_x_axis():
    units = [unit(f"W_s {x:,}", x, p, gap) for x, gap in ((1000, 0.02), (10000, 0.10)) for p in (1, 2, 3)]
    verdict = analysis.claim2(units).verdict
    assert verdict.verdict == INCONCLUSIVE and "3 distinct x values" in verdict.why


def test_claim3_holds_when_the_gap_falls_with_the_missing_share():
    units = [unit(name, share + 0.01 * p, p, gap) for name, share, gap in
             (("random", 0.30, 0.08), ("avoid 0.3", 0.40, 0.05), ("avoid 0.5", 0.58, 0.01)) for p in (1, 2, 3)]
    result = analysis.claim3(units)
    assert result.verdict.direction == -1 and result.verdict.estimate.high < 0
    assert result.verdict.verdict == HOLDS


def test_the_control_splits_the_gap_into_word_statistics_and_word_order():
    units = [unit("W_s 10,000", 10000, p, 0.10, shuffled_gap=0.03) for p in (1, 2, 3)]
    statistics_part, order_part = analysis.claim1(units).split
    assert statistics_part.name.startswith("from word statistics")
    assert statistics_part.estimate.value == pytest.approx(0.03, abs=1e-9)
    assert order_part.estimate.value == pytest.approx(0.07, abs=1e-9)
    assert statistics_part.estimate.n == order_part.estimate.n == 3  # over pre-trainings
    assert analysis.claim1([unit("W_s 10,000", 10000, p, 0.1) for p in (1, 2, 3)]).split == ()  # no control arm


def test_a_run_fails_on_its_validation_accuracy_and_its_test_accuracy_decides_nothing():
    # seed 1 of the scratch arm failed to train: low validation; a low *test* accuracy alone marks nothing
    scratch = runs([0.80, 0.60, 0.80], validation=[0.80, 0.55, 0.81])
    pretrained = runs([0.85, 0.86, 0.40], validation=[0.85, 0.86, 0.84])
    units = analysis.mark_failed([Unit("W_s 1,000", 1000, 1, pretrained, scratch)])
    assert [r.failed for r in units[0].scratch] == [False, True, False]
    assert not any(r.failed for r in units[0].pretrained)
    assert units[0].differences() == pytest.approx({0: 0.05, 2: -0.40})  # seed 1 left out of the pair
    # without validation accuracies no run is marked, however low its test accuracy
    blind = Unit("W_s 1,000", 1000, 1, runs([0.85, 0.86, 0.1], validation=[None] * 3), scratch)
    assert not any(r.failed for r in analysis.mark_failed([blind])[0].pretrained)


def test_every_margin_is_no_larger_than_the_papers_own_effect_and_says_where_it_comes_from():
    for name, margin in paper.MARGINS.items():
        assert 0 < margin.value <= abs(margin.paper_effect), name
        assert "Table" in margin.source or "layers" in margin.source, name
    # claim 3 first: the paper's Table 7 effect is about 0.047 per unit share of missing tokens
    assert paper.slope_per_missing_share() == pytest.approx(-0.0468, abs=1e-3)
    assert paper.MARGINS["slope per missing share"].value < 0.047
    assert paper.ACCURACY["dbpedia_14"][10000].table == "Table 6"


def test_claim4_is_judged_on_the_side_by_side_latency_and_reports_total_work_beside_it():
    members = {"a": runs([0.84, 0.85, 0.86]), "b": runs([0.80, 0.81, 0.82])}
    units = [CommitteeUnit(p, runs([0.80 + 0.001 * p] * 3), members, {0: 0.88, 1: 0.881, 2: 0.879})
             for p in (1, 2, 3)]
    fast = Latency("side by side", 1, (10.0, 10.2, 9.9, 10.1), (5.0, 5.1, 5.0, 4.9))
    slow = Latency("total work", 1, (10.0, 10.2, 9.9, 10.1), (17.0, 17.3, 17.1, 16.9))
    result = analysis.claim4(units, [slow, fast])
    assert {p.quantity: p.verdict for p in result.parts} == {
        "committee of pre-trained members - deep model": HOLDS,
        "log latency ratio committee / deep, total work, batch 1": DOES_NOT_HOLD,
        "log latency ratio committee / deep, side by side, batch 1": HOLDS}
    assert result.verdict.verdict == HOLDS  # total work is shown, not judged
    deep_vs_member = result.split[0]
    assert "best single member (a)" in deep_vs_member.name and analysis.beats(deep_vs_member) == "no"
    assert analysis.claim4(units[:2], [fast]).verdict.verdict == INCONCLUSIVE  # 2 pre-training seeds


def test_the_report_says_when_pretrainings_ended_on_the_mlm_plateau():
    from dataclasses import replace

    from tlm_hf.training.claims.reproduce import plateau_note

    def with_gain(gain):
        return replace(unit("r", 1000, 1, 0.02), pretraining={"context_gain": gain})

    assert plateau_note([with_gain(0.4), with_gain(0.3)]) is None
    note = plateau_note([with_gain(0.03), with_gain(-0.1), with_gain(0.4)])
    assert note.startswith("On the MLM plateau: 2 of 3 pre-trainings") and "(-0.10 to +0.03)" in note
    assert plateau_note([unit("r", 1000, 1, 0.02)]) is None  # no pre-training statistics: nothing to say


def test_combined_verdict_needs_every_part():
    assert analysis.combined_verdict([HOLDS, HOLDS]) == HOLDS
    assert analysis.combined_verdict([HOLDS, INCONCLUSIVE]) == INCONCLUSIVE
    assert analysis.combined_verdict([HOLDS, INCONCLUSIVE, DOES_NOT_HOLD]) == DOES_NOT_HOLD


def test_the_rule_refuses_a_margin_or_direction_that_makes_no_sense():
    estimate = analysis.mean_interval([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="margin"):
        analysis.judge("q", estimate, direction=1, threshold=0, margin=paper.Margin(0, 0, ""))
    with pytest.raises(ValueError, match="direction"):
        analysis.judge("q", estimate, direction=0, threshold=0, margin=paper.Margin(0.01, 0.02, ""))


def test_reproduce_reports_every_pretraining_unit_with_its_finetuning_seeds_and_a_verdict_per_claim(
        tmp_path, monkeypatch, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        **tiny_files(tmp_path), "train_per_label": 6, "validation_per_label": 2, "w_s": [24, 48],
        "pretrain_seeds": [1, 2], "shuffled_control": True, "seeds": [0], "pretrain_epochs": 1, "finetune_epochs": 2,
        "batch_size": 16, "learning_rates": [1e-3], "finetune_args": "select_epoch=true", "max_length": 32,
        "claims": {"claim3_w_s": 16, "avoid_fractions": [0.2], "claim4_w_s": 24, "deep_learning_rates": [1e-3],
                   "latency_repeats": 3},
    }))
    out = tmp_path / "report"
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["reproduce.py", "--config", str(config), "--output_dir", str(out)])
    try:
        runpy.run_path(str(REPO / "train" / "reproduce.py"), run_name="__main__")
    except SystemExit as exit:
        assert exit.code in (None, 0), exit.code
    assert "claim 4: a soft committee" in capsys.readouterr().out

    report = json.loads((out / "report.json").read_text())
    assert [c["claim"] for c in report["claims"]] == [1, 2, 3, 4]
    for claim in report["claims"]:
        assert claim["verdict"]["verdict"] == INCONCLUSIVE  # 2 pre-trainings per row: never enough
        assert claim["paper"] and claim["differs"]
        assert (out / claim["plot"]).read_bytes()[:4] == b"\x89PNG"
    one, two, three, four = report["claims"]
    # every pre-training unit, each with its fine-tuning seeds in all three arms
    assert [(u["x"], u["pretrain_seed"]) for u in one["units"]] == [(24, 1), (24, 2), (48, 1), (48, 2)]
    for u in one["units"]:
        for arm in ("pretrained", "scratch", "shuffled"):
            assert [r["seed"] for r in u[arm]] == [0] and r_chosen_on_validation(u[arm][0])
    assert "pre-trainings" in one["verdict"]["why"]
    assert [p["name"].split(" (")[0] for p in one["split"]] == ["from word statistics", "from word order"]
    assert two["verdict"]["estimate"]["kind"] == "slope" and two["verdict"]["estimate"]["n"] == 4
    # claim 3: each pre-training's own subset counted: the avoid rows miss more of the task's tokens
    assert [u["row"] for u in three["units"]] == ["random", "random", "avoid 0.2", "avoid 0.2"]
    assert min(m["T_M"] for m in three["measures"][2:]) > max(m["T_M"] for m in three["measures"][:2])
    # claim 4: latency both ways, labelled; the deep model against a single member
    assert {(lat["way"], lat["batch_size"]) for lat in four["latency"]} == {
        ("total work", 1), ("side by side", 1), ("total work", 32), ("side by side", 32)}
    assert any("side by side" in p["quantity"] for p in four["parts"])
    assert "beats a single member" in " ".join(four["notes"])
    assert len(four["committee_units"]) == 2

    markdown = (out / "report.md").read_text()
    assert markdown.index("## Verdict rule") < markdown.index("## Summary") < markdown.index("## Claim 1")
    assert "margin: 1 point of accuracy" in markdown and "![claim 4](claim4.png)" in markdown
    assert one["plateau"].startswith("On the MLM plateau") and one["plateau"] in markdown  # one epoch on 48 paragraphs

    # a rerun finds every run cached
    monkeypatch.setattr(sys, "argv", [*sys.argv, "--dry_run"])
    runpy.run_path(str(REPO / "train" / "reproduce.py"), run_name="__main__")
    rerun = capsys.readouterr().out
    assert "[cached]" in rerun and "[would run]" not in rerun and "0 to run" in rerun.replace("the 0", "0")


def r_chosen_on_validation(result: dict) -> bool:
    return result["validation_accuracy"] is not None and result["epoch"] in (1, 2) and result["learning_rate"] == 1e-3


def test_the_default_plan_dry_runs_with_its_run_count_and_time_estimate(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["reproduce.py", "--output_dir", str(tmp_path), "--jobs", "2", "--dry_run"])
    runpy.run_path(str(REPO / "train" / "reproduce.py"), run_name="__main__")
    last = capsys.readouterr().out.strip().splitlines()[-1]
    runs, minutes = (int(n) for n in re.fullmatch(r"(\d+) runs .* about (\d+) min .*", last).groups())
    assert runs > 50 and minutes <= 90
    assert not (tmp_path / "runs").exists()  # nothing ran


def test_latency_only_times_the_claim_4_shapes_both_ways_without_training(tmp_path, monkeypatch, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**tiny_files(tmp_path), "max_length": 32}))
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["reproduce.py", "--latency_only", "--config", str(config), "--output_dir",
                                      str(tmp_path / "out"), "--latency_repeats", "3"])
    runpy.run_path(str(REPO / "train" / "reproduce.py"), run_name="__main__")
    assert "| side by side | 1 |" in capsys.readouterr().out
    saved = json.loads((tmp_path / "out" / "latency.json").read_text())
    assert {(lat["way"], lat["batch_size"]) for lat in saved["latency"]} == {
        ("total work", 1), ("side by side", 1), ("total work", 32), ("side by side", 32)}
    for lat in saved["latency"]:
        assert len(lat["deep_ms"]) == len(lat["committee_ms"]) == 3
    for verdict in saved["verdicts"]:
        assert verdict["verdict"] in (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE) and verdict["direction"] == -1
    assert not (tmp_path / "out" / "runs").exists()  # nothing trained


def test_unigram_divergence_is_zero_for_the_same_distribution_and_one_bit_for_disjoint_ones():
    import numpy as np

    from tlm_hf.data.token_stats import unigram_divergence

    assert unigram_divergence(np.array([2, 4, 0]), np.array([1, 2, 0])) == pytest.approx(0.0)
    assert unigram_divergence(np.array([5, 0, 0]), np.array([0, 3, 1])) == pytest.approx(1.0)
    assert 0 < unigram_divergence(np.array([5, 1, 0]), np.array([1, 5, 1])) < 1


def test_an_unknown_claims_option_in_the_config_is_refused_in_one_line(tmp_path, monkeypatch):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**tiny_files(tmp_path), "claims": {"claim3_ws": 16}}))
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["reproduce.py", "--config", str(config), "--output_dir", str(tmp_path / "o")])
    with pytest.raises(SystemExit) as exit:
        runpy.run_path(str(REPO / "train" / "reproduce.py"), run_name="__main__")
    assert str(exit.value.code) == f"reproduce.py: error: {config}: unknown claims option 'claim3_ws'"
