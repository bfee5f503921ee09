"""train/benchmarks/gpu_check.py: its smoke run end to end (every part's command, the tables sized and run, the summary and the
archive), a rerun of part 3 continuing the same runs, and its pieces (sizing, parsing, budgets, wheels, archive)."""

import gzip
import json
import os
import runpy
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import yaml
from training_helpers import REPO

GPU_CHECK = runpy.run_path(str(REPO / "train" / "benchmarks" / "gpu_check.py"), run_name="gpu_check")
AG_NEWS_TEXTS = ["stocks fell as the market slid", "the team won the final game", "a new chip speeds up phones",
                 "leaders met to discuss the treaty"]


def run_gpu_check(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run([sys.executable, str(REPO / "train" / "benchmarks" / "gpu_check.py"), *map(str, args)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    """One smoke run (AG News-shaped files standing in for the carried AG News), its output folder and archive."""
    root = tmp_path_factory.mktemp("gpu-check")
    for name, per_label in (("train_partial", 4), ("test", 4)):
        (root / "data" / "ag_news").mkdir(parents=True, exist_ok=True)
        with gzip.open(root / "data" / "ag_news" / f"{name}.jsonl.gz", "wt") as f:
            for i in range(per_label):
                for label, text in enumerate(AG_NEWS_TEXTS):
                    f.write(json.dumps({"text": f"{text} {i}", "label": label}) + "\n")
    done = run_gpu_check("--smoke", "--output_dir", root / "out", "--data", root / "data",
                         "--archive", root / "gpu-check.tar.gz")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return root, done.stdout


def test_smoke_run_measures_every_part_sizes_the_tables_and_writes_one_summary(smoke):
    root, console = smoke
    out = root / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert {name: part["status"] for name, part in summary["parts_run"].items()} == {
        "1a": "ok", "2a": "ok", "2c": "ok", "3-table6-paper": "ok", "3-table5-paper": "ok"}

    # part 1: the paper-style loop and ours, as bench_pretrain.py wrote them (typed rows, no printed text read);
    # part 2: both latency scripts
    paths = {(r["model"], r["path"]) for r in summary["throughput"]}
    assert paths == {("bert-6", "baseline"), ("bert-6", "ours")}
    assert all(r["tokens_per_s"] > 0 and r["batch"] == 4 for r in summary["throughput"])
    variants = {(r["model"], r["variant"], r["part"]) for r in summary["latency"]}
    assert {("BERT-6", "eager", "2a"), ("cheap committee", "eager", "2a"), ("BERT-6", "compiled", "2c"),
            ("cheap committee", "compiled", "2c")} <= variants
    assert all(r["difference"] == 0 for r in summary["latency"] if r["variant"] == "compiled")  # logits unchanged
    assert {"mfu", "peak_gib", "mean_length", "compiled", "precision"} <= set(summary["throughput"][0])
    assert (out / "logs" / "1a.jsonl").exists() and (out / "logs" / "2c.jsonl").exists()

    # part 3: each table sized from part 1's step rate, the decision logged and kept, the experiment's table
    for name, rows in (("table6-paper", 1), ("table5-paper", 2)):
        decision = json.loads((out / "tables" / name / "decision.json").read_text())
        assert (decision["pretrain_epochs"], decision["finetune_epochs"], decision["seeds"]) == (1, 1, 1)
        assert "ms per step of part 1a's ours" in decision["line"] and decision["line"] in console
        table = summary["tables"][name]
        assert table["status"] == "ok" and table["results"].count("| random |") == rows
    config = yaml.safe_load((out / "tables" / "table5-paper" / "config.yaml").read_text())
    assert config["task_data"].startswith(f"train={root / 'data' / 'ag_news'}")
    assert (config["w_s"], config["learning_rate"], config["weight_decay"]) == ([50, 20], [5e-5, 2e-4], [1e-2, 8e-2])

    # one summary with every command; plots; the log; an archive without weights
    text = (out / "summary.md").read_text()
    assert "smoke run on a CPU" in text and "train/benchmarks/bench_pretrain.py --device cpu" in text
    assert "train/benchmarks/latency_graphs.py" in text and "train/experiment.py --config" in text
    assert (out / "throughput.png").read_bytes()[:4] == b"\x89PNG" and (out / "latency.png").exists()
    assert "part 3-table5-paper: ok" in (out / "gpu_check.log").read_text()
    with tarfile.open(root / "gpu-check.tar.gz") as tar:
        names = tar.getnames()
    assert {"out/summary.md", "out/summary.json", "out/gpu_check.log", "out/logs/1a.log",
            "out/tables/table6-paper/results.md"} <= set(names)
    assert not [n for n in names if n.endswith((".safetensors", ".bin", ".pt"))]


def test_a_second_call_of_part_3_skips_finished_tables_and_continues_a_stopped_one(smoke):
    root, _ = smoke
    out = root / "out"
    table5 = out / "tables" / "table5-paper"
    (table5 / "results.md").unlink()  # as if the first call had been stopped during Table 5, one run unfinished
    unfinished = next((table5 / "finetune").glob("scratch-*"))
    (unfinished / "results.json").unlink()
    done = run_gpu_check("--smoke", "--parts", "3", "--output_dir", out, "--data", root / "data")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "part 3 table6-paper: done in an earlier call" in done.stdout
    assert "part 3 table5-paper: continuing the earlier decision" in done.stdout
    log = (out / "logs" / "3-table5-paper.log").read_text()
    assert log.count("[run]") == 1 and str(unfinished) in log and log.count("[cached]") == 4
    assert (table5 / "results.md").is_file()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["throughput"] and summary["parts_run"]["1a"]["status"] == "ok"  # the first call's, kept
    assert summary["tables"]["table6-paper"]["status"] == "ok"


# --- the pieces ----------------------------------------------------------------------------------------------------


def test_tables_are_sized_to_the_paper_recipe_when_time_allows_and_cut_in_epochs_first():
    size = GPU_CHECK["size_table"]
    table6 = dict(w_s=[5000], finetune_examples=1400, batch_size=32, pretrain_epochs=50, finetune_epochs=50,
                  seeds=(2, 5), jobs=6, startup_s=30)
    ample = size(0.01, 3600, **table6)
    assert (ample["pretrain_epochs"], ample["finetune_epochs"], ample["seeds"]) == (50, 50, 5)
    assert ample["steps"] == 50 * 157 + 2 * 5 * 50 * 44
    short = size(0.01, 100, **table6)  # 70 s of steps: the chain of 157 + 44 steps per epoch bounds it
    assert short["pretrain_epochs"] == short["finetune_epochs"] < 50 and short["estimate_s"] <= 100
    assert short["seeds"] >= 2
    fast = size(0.01, 3600, **{**table6, "pretrain_epochs": 24, "finetune_epochs": 10})
    assert (fast["pretrain_epochs"], fast["finetune_epochs"]) == (24, 10)
    cut = size(0.01, 50, **{**table6, "pretrain_epochs": 24, "finetune_epochs": 10})
    assert cut["finetune_epochs"] == max(1, round(cut["pretrain_epochs"] * 10 / 24))
    assert size(0.01, 31, **table6) is None  # the start alone takes 30 s
    assert size(0.01, 100, **table6, min_epochs=40) is None  # 34 fit; fewer than 40 would measure too little


def test_an_experiment_is_as_long_as_its_longest_chain_or_its_work_over_the_jobs():
    estimate = GPU_CHECK["estimate_seconds"]
    # 1 pre-training of 100 steps, then 2 seeds x (1 row + scratch) fine-tunes of 10 steps
    assert estimate(1.0, pretrain_steps=[100], finetune_steps=10, seeds=2, jobs=8, startup_s=5) == 5 + 110
    assert estimate(1.0, pretrain_steps=[100], finetune_steps=10, seeds=2, jobs=1, startup_s=0) == 140


def test_every_benchmark_part_writes_typed_rows_to_a_file_of_its_own(tmp_path):
    for smoke in (True, False):
        for part in GPU_CHECK["benchmark_parts"](smoke, tmp_path):
            assert part["argv"][-2:] == ["--results", str(tmp_path / f"{part['name']}.jsonl")] == [
                "--results", str(part["results"])]


def test_rows_of_a_part_stopped_mid_write_are_read_without_its_cut_off_line_and_damage_elsewhere_is_named(tmp_path):
    from tlm_hf.errors import SettingsError
    from tlm_hf.fileio import append_json_line, read_json_lines

    rows = tmp_path / "1a.jsonl"
    assert read_json_lines(rows) == []  # a part stopped before its first row
    append_json_line(rows, {"path": "baseline", "mfu": None})
    append_json_line(rows, {"path": "ours", "mfu": 21.2})
    with open(rows, "a") as f:
        f.write('{"path": "ours", "comp')  # the budget ran out mid-line
    assert read_json_lines(rows) == [{"path": "baseline", "mfu": None}, {"path": "ours", "mfu": 21.2}]
    rows.write_text('{"path": "baseline"}\nnot json\n{"path": "ours"}\n')
    with pytest.raises(SettingsError, match=r"1a.jsonl, line 2: not JSON"):
        read_json_lines(rows)


def test_part_3_sizes_itself_from_bert_6_at_batch_32_times_the_trainer_factor():
    row = dict(model="bert-6", path="ours", compiled=False, precision="bf16", batch=32, mean_length=100.0,
               tokens_per_s=320000.0, part="1a")
    rows = [row, {**row, "batch": 128, "tokens_per_s": 900000.0, "part": "1b"}, {**row, "compiled": True}]
    step_s, how = GPU_CHECK["step_rate"](rows)
    assert step_s == pytest.approx(0.01 * GPU_CHECK["TRAINER_FACTOR"])
    assert "10.0 ms per step of part 1a's ours (bf16) at batch 32" in how
    assert GPU_CHECK["step_rate"]([{**row, "model": "tiny"}]) is None


def test_the_fast_table_keeps_its_recipe_learning_rates_and_the_experiment_accepts_it(tmp_path, monkeypatch, capsys):
    plans = {plan["name"]: plan for plan in GPU_CHECK["table_plans"](tmp_path, smoke=False)}
    decision = dict(pretrain_epochs=24, finetune_epochs=10, seeds=2)
    config = GPU_CHECK["table_config"](plans["table6-fast"], decision, smoke=False)
    assert config["recipe"] == "fast" and config["w_s"] == [5000] and config["seeds"] == [0, 1]
    assert not {"learning_rate", "weight_decay", "scratch_learning_rate", "scratch_weight_decay"} & set(config)
    paper = GPU_CHECK["table_config"](plans["table6-paper"], decision, smoke=False)
    assert (paper["learning_rate"], paper["weight_decay"]) == ([5e-5], [1e-2]) and "scratch_learning_rate" in paper
    file = tmp_path / "fast.yaml"
    file.write_text(yaml.safe_dump(config))
    monkeypatch.chdir(REPO)
    monkeypatch.setattr(sys, "argv", ["experiment.py", "--config", str(file), "--output_dir", str(tmp_path / "x"),
                                      "--dry_run", "true"])
    runpy.run_path(str(REPO / "train" / "experiment.py"), run_name="__main__")
    assert capsys.readouterr().out.count("[would run]") == 5  # pre-training, 2 seeds x (pre-trained, scratch)


def test_a_part_past_its_budget_is_stopped_with_its_children(tmp_path):
    child = tmp_path / "child.pid"
    script = (f"import subprocess, sys, time; p = subprocess.Popen([sys.executable, '-c', 'import time; "
              f"time.sleep(60)']); open({str(child)!r}, 'w').write(str(p.pid)); print('started', flush=True); "
              f"time.sleep(60)")
    start = time.monotonic()
    result = GPU_CHECK["run_part"]([sys.executable, "-c", script], 3, tmp_path / "part.log", dict(os.environ))
    assert result["status"] == "stopped at its 3 s budget" and time.monotonic() - start < 20
    assert "started" in result["output"] and result["output"].startswith("$ ")
    time.sleep(0.5)
    status = Path(f"/proc/{child.read_text()}/status")
    assert not status.exists() or "State:\tZ" in status.read_text()  # gone, or dead and not yet reaped
    failed = GPU_CHECK["run_part"]([sys.executable, "-c", "raise SystemExit(3)"], 30, tmp_path / "f.log",
                                   dict(os.environ))
    assert failed["status"] == "failed (exit 3)"


def fake_wheel(folder, name: str) -> None:
    """A wheel of one pure-Python module `name` that pip installs offline."""
    folder.mkdir(parents=True, exist_ok=True)
    info = f"{name}-1.0.dist-info"
    files = {f"{name}.py": "VALUE = 42\n",
             f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n",
             f"{info}/WHEEL": "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    files[f"{info}/RECORD"] = "".join(f"{path},,\n" for path in [*files, f"{info}/RECORD"])
    with zipfile.ZipFile(folder / f"{name}-1.0-py3-none-any.whl", "w") as whl:
        for path, text in files.items():
            whl.writestr(path, text)


def test_missing_packages_are_installed_from_the_carried_wheels_and_no_wheels_is_one_line(tmp_path):
    install = GPU_CHECK["install_wheels"]
    site = tmp_path / "site"
    env = {**os.environ, "PYTHONPATH": str(site)}
    fake_wheel(tmp_path / "wheels", "tlm_fake_needed")
    assert install(tmp_path / "wheels", site, env, modules=("json",)) == "json: already importable"
    line = install(tmp_path / "wheels", site, env, modules=("tlm_fake_needed",))
    assert line.startswith("installed tlm_fake_needed-1.0-py3-none-any.whl")
    check = subprocess.run([sys.executable, "-c", "import tlm_fake_needed; print(tlm_fake_needed.VALUE)"], env=env,
                           capture_output=True, text=True)
    assert check.stdout.strip() == "42"
    with pytest.raises(SystemExit, match=r"no wheels in .*: run `python train/benchmarks/gpu_check.py --prepare`"):
        install(tmp_path / "none", site, env, modules=("tlm_fake_missing",))


def test_the_archive_holds_logs_tables_and_plots_but_no_weights_or_checkpoints(tmp_path):
    out = tmp_path / "out"
    for path in ("summary.md", "logs/1a.log", "tables/t/results.png", "tables/t/pretrain/r/model.safetensors",
                 "tables/t/pretrain/r/checkpoints/checkpoint-1/trainer_state.json", "tables/t/pretrain/r/vocab.txt",
                 "tables/t/pretrain/r/run_config.json"):
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text("x")
    GPU_CHECK["archive"](out, tmp_path / "a.tar.gz")
    with tarfile.open(tmp_path / "a.tar.gz") as tar:
        assert sorted(tar.getnames()) == ["out/logs/1a.log", "out/summary.md",
                                          "out/tables/t/pretrain/r/run_config.json", "out/tables/t/results.png"]


def test_wrong_parts_or_a_gpu_run_without_a_gpu_end_in_one_line(tmp_path):
    done = run_gpu_check("--parts", "4", "--output_dir", tmp_path)
    assert done.returncode == 2 and "--parts '4': give some of 1, 2, 3" in done.stderr
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    done = run_gpu_check("--parts", "1", "--output_dir", tmp_path / "cpu")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "gpu_check.py: error: no GPU visible to torch: run on the GPU machine, or use --smoke on a CPU")


def test_the_summary_states_each_target_met_or_missed_against_the_paper_style_loop_at_batch_32(tmp_path):
    bench = dict(model="bert-6", mean_length=100.0, peak_gib=1.0, gflops=1.0, part="1a")
    throughput = [dict(bench, path="baseline", precision="fp16", compiled=False, batch=32, tokens_per_s=1e5, mfu=5.0),
                  dict(bench, path="ours", precision="bf16", compiled=False, batch=32, tokens_per_s=2.5e5, mfu=20.0),
                  dict(bench, path="baseline", precision="fp16", compiled=False, batch=128, tokens_per_s=2e5, mfu=9.0,
                       part="1b"),
                  dict(bench, path="ours", precision="bf16", compiled=True, batch=128, tokens_per_s=4e5, mfu=39.5,
                       part="1b")]
    timing = dict(batch=1, p95_ms=1.0, difference=0.0, part="2b")
    latency = [dict(timing, model="BERT-6", variant="eager", p50_ms=5.0),
               dict(timing, model="BERT-6", variant="graph", p50_ms=2.0),
               dict(timing, model="table8 committee", variant="eager", p50_ms=8.0),
               dict(timing, model="table8 committee", variant="graph", p50_ms=0.9),
               dict(timing, model="cheap committee", variant="graph", p50_ms=0.5)]
    summary = dict(smoke=False, environment={"cuda": "NVIDIA H200"}, parts_run={}, throughput=throughput,
                   latency=latency, tables={})
    GPU_CHECK["write_summary"](summary, tmp_path)
    text = (tmp_path / "summary.md").read_text()
    assert ("BERT-6, fastest path: compiled bf16, batch 128: 4.0x the paper-style loop, batch 32 (target 3x: met); "
            "best MFU 39.5% (target 40%: missed).") in text
    assert "| bert-6 | ours compiled (bf16) | 128 | 400,000 | 4.00 | 39.5% |" in text
    assert "table8 committee / BERT-6 = 0.45 (target at most 0.5: met)." in text
    assert "cheap committee / BERT-6 = 0.25." in text
    assert json.loads((tmp_path / "summary.json").read_text())["targets"] == dict(speedup=True, mfu=False,
                                                                                 latency=True)
    assert (tmp_path / "throughput.png").read_bytes()[:4] == b"\x89PNG" and (tmp_path / "latency.png").is_file()


def test_the_shell_entry_point_runs_the_script_from_any_folder(tmp_path):
    done = subprocess.run(["bash", str(REPO / "train" / "benchmarks" / "gpu_check.sh"), "--help"], cwd=tmp_path, capture_output=True,
                          text=True, env={**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert done.returncode == 0 and "--smoke" in done.stdout and "--archive" in done.stdout
