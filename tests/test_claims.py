"""The verdict rule of the paper's claims (tlm_hf.training.claims) on synthetic tables, and train/reproduce.py's
report on a tiny run."""

import json
import math
import runpy
import sys

import pytest
import yaml
from training_helpers import REPO, tiny_files

from tlm_hf.training import claims
from tlm_hf.training.claims import DOES_NOT_HOLD, HOLDS, INCONCLUSIVE


def judged_gap(gaps, **rule):
    return claims.verdict(claims.mean_interval(gaps), **{"direction": 1, "threshold": 0.0, "margin": 0.01, **rule})


def test_t_quantile_matches_the_t_table():
    # two-sided 95% critical values of Student's t for 1, 2, 4, 10 and 30 degrees of freedom
    for df, expected in ((1, 12.706), (2, 4.303), (4, 2.776), (10, 2.228), (30, 2.042)):
        assert claims.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-3)
    assert claims.t_quantile(0.025, 3) == pytest.approx(-3.182, abs=1e-3)


def test_a_clearly_positive_gap_holds():
    assert judged_gap([0.050, 0.062, 0.055, 0.058]) == HOLDS


def test_a_clearly_absent_gap_does_not_hold():
    # the interval sits around 0 and stops well short of the 0.01 margin: an effect that matters is ruled out
    assert judged_gap([0.001, -0.002, 0.0005, 0.0, -0.001]) == DOES_NOT_HOLD


def test_a_clearly_negative_gap_does_not_hold():
    assert judged_gap([-0.05, -0.06, -0.055]) == DOES_NOT_HOLD


def test_a_noisy_gap_is_inconclusive():
    assert judged_gap([0.10, -0.08, 0.05]) == INCONCLUSIVE


def test_fewer_than_three_seeds_are_inconclusive_however_large_the_effect():
    assert judged_gap([0.20, 0.21]) == INCONCLUSIVE
    assert judged_gap([0.20]) == INCONCLUSIVE


def test_a_trend_holds_does_not_hold_or_is_inconclusive_by_the_same_rule():
    w_s = [1000, 2000, 5000, 10000] * 3
    x = [math.log10(w) for w in w_s]
    growing = [0.03 * (v - 3) + 0.002 * (i % 3 - 1) for i, v in enumerate(x)]
    flat = [0.001 * (i % 3 - 1) for i in range(len(x))]
    noisy = [0.01 * (v - 3) + (0.1 if i % 2 else -0.1) for i, v in enumerate(x)]
    rule = dict(direction=1, threshold=0.0, margin=0.01)
    assert claims.verdict(claims.slope_interval(x, growing), **rule) == HOLDS
    assert claims.verdict(claims.slope_interval(x, flat), **rule) == DOES_NOT_HOLD
    assert claims.verdict(claims.slope_interval(x, noisy), **rule) == INCONCLUSIVE
    # 4 rows x 2 seeds are 8 points, but 2 seeds: inconclusive, as for an effect
    two_seeds = [i for i in range(len(x)) if i % 3 < 2]
    estimate = claims.slope_interval([x[i] for i in two_seeds], [growing[i] for i in two_seeds])
    assert claims.verdict(estimate, **rule) == HOLDS
    assert claims.verdict(estimate, **rule, seeds=2) == INCONCLUSIVE


def test_a_claim_in_the_falling_direction_holds_when_the_slope_is_clearly_negative():
    share = [0.3, 0.3, 0.3, 0.45, 0.45, 0.45, 0.6, 0.6, 0.6]
    gaps = [0.05, 0.052, 0.049, 0.03, 0.031, 0.028, 0.01, 0.012, 0.009]
    estimate = claims.slope_interval(share, gaps)
    assert estimate.high < 0
    assert claims.verdict(estimate, direction=-1, threshold=0.0, margin=0.05) == HOLDS
    assert claims.verdict(estimate, direction=1, threshold=0.0, margin=0.05) == DOES_NOT_HOLD


def test_matching_is_a_threshold_below_zero():
    # a committee 0.002 below the deep model, tightly: it matches (non-inferior by the 0.01 margin)
    estimate = claims.mean_interval([-0.002, -0.001, -0.003, -0.002])
    assert claims.verdict(estimate, direction=1, threshold=-0.01, margin=0.01) == HOLDS
    # 0.05 below, tightly: it does not
    estimate = claims.mean_interval([-0.05, -0.051, -0.049])
    assert claims.verdict(estimate, direction=1, threshold=-0.01, margin=0.01) == DOES_NOT_HOLD


def test_a_failed_run_is_marked_and_left_out_of_the_paired_gap():
    # the AG News case: one scratch seed failed to train, which alone made its gap +0.171
    pretrained = {0: 0.799, 1: 0.799, 2: 0.801}
    scratch = {0: 0.773, 1: 0.628, 2: 0.776}
    failed = claims.failed_seeds(scratch)
    assert failed == {1}
    assert claims.failed_seeds(pretrained) == set()
    assert claims.paired_differences(pretrained, scratch, exclude=failed) == pytest.approx({0: 0.026, 2: 0.025})
    assert claims.failed_seeds({0: 0.5, 1: 0.1}) == set()  # two seeds: no median of the others to compare with


def test_combined_verdict_needs_every_part():
    assert claims.combined_verdict([HOLDS, HOLDS]) == HOLDS
    assert claims.combined_verdict([HOLDS, INCONCLUSIVE]) == INCONCLUSIVE
    assert claims.combined_verdict([HOLDS, INCONCLUSIVE, DOES_NOT_HOLD]) == DOES_NOT_HOLD


def test_the_rule_refuses_a_margin_or_direction_that_makes_no_sense():
    estimate = claims.mean_interval([0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="margin"):
        claims.verdict(estimate, margin=0)
    with pytest.raises(ValueError, match="direction"):
        claims.verdict(estimate, direction=0, margin=0.01)


def test_reproduce_writes_a_report_with_the_rule_before_the_numbers_and_a_verdict_per_claim(tmp_path, monkeypatch,
                                                                                             capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        **tiny_files(tmp_path), "w_s": [24, 48], "seeds": [0, 1], "pretrain_epochs": 1, "finetune_epochs": 1,
        "batch_size": 16, "learning_rate": [1e-3], "scratch_learning_rate": 1e-3, "max_length": 32,
    }))
    out = tmp_path / "report"
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["reproduce.py", "--config", str(config), "--output_dir", str(out),
                                      "--claim3_w_s", "16", "--avoid_fractions", "0.2", "--claim4_w_s", "24",
                                      "--latency_repeats", "2"])
    try:
        runpy.run_path(str(REPO / "train" / "reproduce.py"), run_name="__main__")
    except SystemExit as exit:
        assert exit.code in (None, 0), exit.code
    printed = capsys.readouterr().out
    assert "claim 4: a soft committee" in printed

    report = json.loads((out / "report.json").read_text())
    assert [c["claim"] for c in report["claims"]] == [1, 2, 3, 4]
    for claim in report["claims"]:
        assert claim["verdict"]["verdict"] in (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE)
        assert claim["paper"] and claim["differs"]
        assert (out / claim["plot"]).read_bytes()[:4] == b"\x89PNG"
    one, two, three, four = report["claims"]
    assert [row["W_s"] for row in one["rows"]] == [24, 48]
    assert set(one["rows"][0]["pretrained"]) == {"0", "1"}  # per-seed accuracies, keyed by seed in JSON
    assert one["verdict"]["verdict"] == INCONCLUSIVE  # 2 seeds: never enough for a verdict
    assert two["verdict"]["kind"] == "slope" and two["verdict"]["n"] == 4  # 2 rows x 2 seeds
    assert two["verdict"]["verdict"] == INCONCLUSIVE
    # claim 3: T_M counted in the task's bert-base-uncased tokens (here the tiny tokenizer), coverage beside it
    assert [row["name"] for row in three["rows"]] == ["random", "avoid 0.2"]
    assert three["rows"][1]["bert"]["T_M"] > three["rows"][0]["bert"]["T_M"]
    assert three["rows"][1]["bert"]["coverage"] < three["rows"][0]["bert"]["coverage"]
    # the subsets were rebuilt as the pre-training drew them: with the tokenizer the model was trained with, the
    # report's counts are the pre-training's own
    assert [row["bert"]["T_W"] for row in three["rows"]] == [row["T_W"] for row in three["rows"]]
    assert set(three["predictors_r2"]) == {"T_M share", "frequency-weighted coverage", "unigram JS divergence"}
    assert {part["name"] for part in four["parts"]} >= {"log latency ratio committee / deep, batch 1",
                                                         "log latency ratio committee / deep, batch 32"}
    assert len(four["latency"]["1"]["deep_ms"]) == 2
    assert set(four["committees"]) == {"pre-trained", "scratch"}

    markdown = (out / "report.md").read_text()
    assert markdown.index("## Verdict rule") < markdown.index("## Summary") < markdown.index("## Claim 1")
    assert "Paper:" in markdown and "![claim 4](claim4.png)" in markdown

    # a rerun finds every run cached
    monkeypatch.setattr(sys, "argv", [*sys.argv, "--dry_run"])
    runpy.run_path(str(REPO / "train" / "reproduce.py"), run_name="__main__")
    rerun = capsys.readouterr().out
    assert "[cached]" in rerun and "would run" not in rerun


def test_latency_only_times_the_claim_4_shapes_without_training(tmp_path, monkeypatch, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**tiny_files(tmp_path), "max_length": 32}))
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["reproduce.py", "--latency_only", "--config", str(config), "--output_dir",
                                      str(tmp_path / "out"), "--latency_repeats", "3"])
    runpy.run_path(str(REPO / "train" / "reproduce.py"), run_name="__main__")
    assert "| 1 |" in capsys.readouterr().out
    latency = json.loads((tmp_path / "out" / "latency.json").read_text())["latency"]
    assert set(latency) == {"1", "32"}
    for judged in latency.values():
        assert len(judged["deep_ms"]) == len(judged["committee_ms"]) == 3
        assert judged["verdict"] in (HOLDS, DOES_NOT_HOLD, INCONCLUSIVE) and judged["direction"] == -1
    assert not (tmp_path / "out" / "runs").exists()  # nothing trained


def test_unigram_divergence_is_zero_for_the_same_distribution_and_one_bit_for_disjoint_ones():
    import numpy as np

    from tlm_hf.data.token_stats import unigram_divergence

    assert unigram_divergence(np.array([2, 4, 0]), np.array([1, 2, 0])) == pytest.approx(0.0)
    assert unigram_divergence(np.array([5, 0, 0]), np.array([0, 3, 1])) == pytest.approx(1.0)
    assert 0 < unigram_divergence(np.array([5, 1, 0]), np.array([1, 5, 1])) < 1
