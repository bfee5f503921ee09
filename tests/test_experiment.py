"""train/experiment.py end to end on tiny data, the results table, and every shipped config."""

import json
import re
import runpy
import sys
from pathlib import Path

import pytest
import yaml
from training_helpers import REPO, tiny_files

from tlm_hf.arguments import parse_settings
from tlm_hf.settings import EXPERIMENT_SETTINGS, ExperimentSettings, SettingsError
from tlm_hf.training.experiments import broadcast_rows, compare_table, experiment_table, table_row


def run_experiment(config: Path, out: Path, *extra, capsys, monkeypatch) -> str:
    """train/experiment.py in this process (its runs still start their own); returns what it printed."""
    monkeypatch.chdir(REPO)  # the shipped configs name ../shared/data relative to the repository
    monkeypatch.setattr(sys, "argv", ["experiment.py", "--config", str(config), "--output-dir", str(out), *extra])
    capsys.readouterr()
    try:
        runpy.run_path(str(REPO / "train" / "experiment.py"), run_name="__main__")
    except SystemExit as exit:
        assert exit.code in (None, 0), exit.code
    return capsys.readouterr().out


def test_tiny_experiment_writes_the_table_and_reuses_every_run_on_a_second_run(tmp_path, capsys, monkeypatch):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        **tiny_files(tmp_path), "w_s": [24], "seeds": [0], "pretrain_epochs": 1, "finetune_epochs": 2,
        "batch_size": 16, "learning_rate": [1e-3], "scratch_learning_rate": 1e-3,
    }))
    out = tmp_path / "run"
    run = lambda *extra: run_experiment(config, out, *extra, capsys=capsys, monkeypatch=monkeypatch)  # noqa: E731
    first = run()
    assert first.count("[run]") == 3 and "[cached]" not in first  # pre-training, both arms

    rows = json.loads((out / "results.json").read_text())
    assert [row["W_s"] for row in rows] == [24]
    row = rows[0]
    assert row["seeds"] == [0]
    assert row["gap"] == pytest.approx(row["acc_pretrained_mean"] - row["acc_scratch_mean"])
    assert 0 < row["T_W"] <= 24 and row["T_M"] >= 0
    assert "| random | 24 |" in (out / "results.md").read_text()
    assert (out / "results.csv").read_text().startswith("subset,W_s,T_W")
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"
    pretrain_dirs = sorted((out / "pretrain").iterdir())
    for folder in pretrain_dirs:
        for name in ("config.json", "model.safetensors", "modeling_conv_bert.py", "tokenizer.json",
                     "pretraining_stats.json", "run_config.json", "settings.yaml"):
            assert (folder / name).exists(), name
    results = [json.loads(p.read_text()) for p in sorted(out.glob("finetune/*/results.json"))]
    assert sorted(r["arm"] for r in results) == ["pretrained", "scratch"]
    mtimes = {p: p.stat().st_mtime_ns for p in out.glob("*/*/model.safetensors")}

    second = run()
    assert second.count("[cached]") == 3 and "[run]" not in second
    assert {p: p.stat().st_mtime_ns for p in out.glob("*/*/model.safetensors")} == mtimes
    assert json.loads((out / "results.json").read_text()) == rows

    # a second W_s and seed: the finished runs are reused, the scratch arm of seed 1 serves both rows
    plan = run("--w_s", "24", "48", "--seeds", "0", "1", "--dry_run")
    assert plan.count("[cached]") == 3 and plan.count("[would run]") == 5


@pytest.mark.parametrize("config", sorted((REPO / "train" / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_shipped_config_parses_and_plans_its_runs(config, tmp_path, capsys, monkeypatch, request):
    exp, _, task, _, _ = parse_settings(EXPERIMENT_SETTINGS, ["--config", str(config), "--output-dir", str(tmp_path)])
    rows = broadcast_rows(exp)
    assert rows and task.task and len(exp.seeds) >= 2
    if "../shared/data" in (task.task_data or ""):  # planning reads the task's files: the team's data folder
        request.getfixturevalue("shared_data")  # skips where it is absent (a checkout with nothing beside it)
    plan = run_experiment(config, tmp_path / "plan", "--dry_run", capsys=capsys, monkeypatch=monkeypatch)
    # one pre-training per row and one fine-tune per seed and row; one scratch arm per seed, shared by the rows,
    # unless each row trains its own vocabulary (then each row has its own scratch arm)
    scratch_runs = len(exp.seeds) * (len(rows) if "wordpiece_vocab_size=" in (exp.pretrain_args or "")
                                     or exp.recipe == "fast" else 1)
    assert plan.count("[would run]") == len(exp.seeds) * len(rows) + len(rows) + scratch_runs


def test_the_main_job_benchmark_times_each_path_and_its_fine_tuning_part_and_refuses_a_used_folder(tmp_path, capsys):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({
        **tiny_files(tmp_path), "w_s": [24], "seeds": [0], "pretrain_epochs": 1, "finetune_epochs": 1,
        "batch_size": 16, "learning_rate": [1e-3], "scratch_learning_rate": 1e-3,
    }))
    bench = runpy.run_path(str(REPO / "train" / "benchmarks" / "bench_experiment.py"))
    bench["main"](["--output_dir", str(tmp_path / "bench"), "--config", str(config), "--paths", "now"])
    [now] = json.loads((tmp_path / "bench" / "bench.json").read_text())["paths"]
    assert now["path"] == "now" and 0 < now["finetuning_seconds"] < now["seconds"] and set(now["gaps"]) == {"24"}
    assert "| now |" in (tmp_path / "bench" / "bench.md").read_text()
    with pytest.raises(SystemExit):
        bench["main"](["--output_dir", str(tmp_path / "bench"), "--config", str(config)])
    assert "is not empty: the timings need runs from scratch" in capsys.readouterr().err



def test_the_benchmark_s_sequential_path_turns_the_speed_switches_off():
    bench = runpy.run_path(str(REPO / "train" / "benchmarks" / "bench_experiment.py"))
    sequential = bench["PATHS"]["sequential"]
    for switch in ("--unpad_tokens", "--fast_dropout"):
        assert sequential[sequential.index(switch) + 1] == "false"
    assert sequential[sequential.index("--attn_implementation") + 1] == "sdpa"


def test_rows_must_match_the_number_of_w_s_values():
    exp = ExperimentSettings(w_s=["2000", "5000", "10000"], learning_rate=[5e-5, 7e-5])
    with pytest.raises(SettingsError, match="learning_rate has 2 values for 3 rows"):
        broadcast_rows(exp)


def test_table_row_averages_seeds_and_gap_is_difference_of_means():
    stats = {"W_s": 5000, "T_W": 22137, "T_C": 17072, "T_M": 1470}
    pretrained = [{"seed": s, "accuracy_final": a, "accuracy_best": a} for s, a in [(1, 0.86), (0, 0.88)]]
    scratch = [{"seed": s, "accuracy_final": a, "accuracy_best": a} for s, a in [(0, 0.84), (1, 0.84)]]
    row = table_row("random", stats, pretrained, scratch)
    assert row["acc_pretrained_mean"] == pytest.approx(0.87)
    assert row["acc_pretrained_std"] == pytest.approx(0.0141421, rel=1e-4)
    assert row["acc_scratch_std"] == 0
    assert row["gap"] == pytest.approx(0.03)
    assert row["seeds"] == [0, 1]
    assert "| random | 5,000 | 22,137 | 1,470 | - | - | - | 0.870 ± 0.014 | 0.840 ± 0.000 | +0.030 |" in experiment_table(
        [row])


def test_compare_table_says_when_the_pretraining_seconds_cover_only_a_resumed_part():
    row = {"variant": "plain", "parameters": 958592, "global_step": 1200, "pretraining_s": 162.4, "timed_steps": 1200,
           "acc_pretrained_mean": 0.6, "acc_pretrained_std": 0.01, "acc_scratch_mean": 0.4, "acc_scratch_std": 0.02,
           "gap": 0.2}
    assert "| 1,200 (162 s) |" in compare_table([row])
    assert "| 1,200 (713 s for the last 700) |" in compare_table([{**row, "pretraining_s": 713, "timed_steps": 700}])


def test_compare_plans_every_variant_before_running_and_refuses_a_misspelled_setting(tmp_path, capsys, monkeypatch):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**tiny_files(tmp_path), "w_s": [24], "seeds": [0, 1]}))
    variants = tmp_path / "variants.yaml"
    variants.write_text(yaml.safe_dump({"variants": [
        {"name": "plain"}, {"name": "shared blocks", "config_overrides": "num_hidden_layers=2,share_blocks=true"},
        {"name": "more masking", "pretrain_args": {"mlm_probability": 0.3}},
    ]}))

    def compare(*extra):
        monkeypatch.chdir(REPO)
        monkeypatch.setattr(sys, "argv", ["compare.py", "--config", str(config), "--variants", str(variants),
                                          "--output_dir", str(tmp_path / "out"), "--dry_run", *extra])
        capsys.readouterr()
        runpy.run_path(str(REPO / "train" / "compare.py"), run_name="__main__")

    compare()  # a dry run: lists the runs, starts none
    plan = capsys.readouterr().out
    # one pre-training and two fine-tunes per variant; the plain and the masking variant share the scratch arms
    assert len(re.findall(r"\[would run\] \d+/13 pre-training", plan)) == 3
    assert len(re.findall(r"\[would run\] \d+/13 scratch", plan)) == 4
    variants.write_text(yaml.safe_dump({"variants": [{"name": "typo", "pretrain_args": {"mlm_probabilty": 0.3}}]}))
    with pytest.raises(SystemExit, match="unknown setting 'mlm_probabilty'; did you mean 'mlm_probability'"):
        compare()


def test_one_seed_shows_no_spread_and_titles_count_in_the_singular():
    from tlm_hf.training.experiments import count_of

    stats = {"W_s": 5000, "T_W": 22137, "T_C": 17072, "T_M": 1470}
    row = table_row("random", stats, [{"seed": 0, "accuracy_final": 0.8, "accuracy_best": 0.8}],
                    [{"seed": 0, "accuracy_final": 0.7, "accuracy_best": 0.7}])
    table = experiment_table([row])
    assert "| 0.800 (n=1) | 0.700 (n=1) | +0.100 |" in table and "±" not in table
    assert (count_of(1, "seed"), count_of(3, "seed")) == ("1 seed", "3 seeds")


@pytest.mark.parametrize("spec, error", [
    ({"cumulativ": True, "variants": [{"name": "a"}]}, r"unknown key 'cumulativ'; did you mean 'cumulative'\?"),
    ({"variants": [{"name": "a"}, {"pretrain_args": {"mlm_probability": 0.3}}]}, r"variant 2 has no name"),
    ({"variants": [{"name": "a", "pretrain_arg": {}}]}, r"variant 'a': unknown key 'pretrain_arg'"),
    ({"title": "nothing"}, r"lists no variants"),
])
def test_compare_refuses_a_variants_file_whose_keys_it_would_otherwise_ignore(spec, error, tmp_path, monkeypatch):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**tiny_files(tmp_path), "w_s": [24], "seeds": [0]}))
    variants = tmp_path / "variants.yaml"
    variants.write_text(yaml.safe_dump(spec))
    monkeypatch.setattr(sys, "argv", ["compare.py", "--config", str(config), "--variants", str(variants),
                                      "--output_dir", str(tmp_path / "out"), "--dry_run"])
    with pytest.raises(SystemExit, match=error):
        runpy.run_path(str(REPO / "train" / "compare.py"), run_name="__main__")
    assert not (tmp_path / "out").exists()


def test_each_pretraining_seed_plans_a_unit_with_its_own_scratch_twin_and_a_word_shuffled_twin(tmp_path):
    config = tmp_path / "tiny.yaml"
    config.write_text(yaml.safe_dump({**tiny_files(tmp_path), "recipe": "fast", "w_s": [24, 48], "seeds": [0, 1],
                                      "pretrain_seeds": [1, 2, 3], "shuffled_control": True}))
    from tlm_hf.training.experiments import plan_experiment

    plan = plan_experiment(*parse_settings(EXPERIMENT_SETTINGS, ["--config", str(config), "--output_dir",
                                                                 str(tmp_path / "out")]))
    assert [(row.pretraining.settings["w_s"], row.pretrain_seed) for row in plan.rows] == [
        (24, 1), (24, 2), (24, 3), (48, 1), (48, 2), (48, 3)]
    for row in plan.rows:  # the seed varies the training and the W_s paragraphs
        assert row.pretraining.settings["seed"] == row.pretraining.settings["subset_seed"] == row.pretrain_seed
        assert row.shuffled.settings == {**row.pretraining.settings, "word_order": "shuffled"}
        assert {r.settings["pretrained"] for r in row.shuffled_finetunes} == {str(row.shuffled.run_dir)}
        assert {r.settings["pretrained"] for r in row.scratch} == {str(row.pretraining.run_dir)}  # its own twin
    assert len({row.pretraining.run_dir for row in plan.rows}) == 6
    # per unit: 2 pre-trainings, 3 arms x 2 seeds of fine-tuning
    assert len(plan.runs()) == 6 * (2 + 3 * 2)
