"""One prepared command for a GPU machine: set it up, then measure pre-training throughput and MFU, committee latency
and the paper's Tables 6 and 5 at BERT-6 size, each part stopped at its own time budget (7 minutes in all).

    python train/benchmarks/gpu_check.py --prepare                    # beforehand, where pip reaches PyPI: fills .device/
    bash train/benchmarks/gpu_check.sh --output_dir runs/gpu-check --archive gpu-check.tar.gz     # on the GPU machine
    bash train/benchmarks/gpu_check.sh --output_dir runs/gpu-check --parts 3 --budget 240        # again, the tables only
    bash train/benchmarks/gpu_check.sh --smoke --output_dir runs/gpu-smoke                         # the same list on a CPU

The GPU machine needs this repository and its .device/ folder only. torch, transformers and accelerate are
expected there; `datasets` and `evaluate` (and dill and multiprocess, which they need beyond those) are installed
from .device/wheels into .device/site when they are missing; AG News (Table 5) is read from .device/data. The parts,
in order of value, each a process of its own, stopped (with its children) at its budget:
  1. throughput: train/benchmarks/bench_pretrain.py, BERT-6 at the paper's batch 32 in every precision, BERT-6 at batch 128
     eager and compiled, the tiny model at batch 128: real tokens/s against the paper-style loop, and MFU;
  2. latency: train/benchmarks/bench_latency.py, then train/benchmarks/latency_graphs.py (CUDA graphs; torch.compile), batch 1 and 32;
  3. tables: Table 6 (DBpedia-14), then Table 5 (AG News), BERT-6 with the paper's recipe, then Table 6 with the
     fast recipe, each sized to the time left from part 1's step rate (epochs and seeds; the decision is logged
     and kept in the table's decision.json, so a later call with the same output folder continues the same runs).
--smoke runs the list on a CPU with tiny models, few steps and no compilation, to test the command itself.

Writes to --output_dir: gpu_check.log (what the console showed, with times), logs/<part>.log (each part's output),
logs/<part>.jsonl (its measured rows, typed, read back into the summary),
environment.txt, summary.md and summary.json (every figure with the command that made it, the targets and whether
they were met), throughput.png, latency.png, and tables/<table>/ (config.yaml, decision.json, the experiment's
results.md/.json/.png and its runs). --archive packs all of it but model weights into one .tar.gz.
"""

import argparse
import json
import math
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import yaml  # PyYAML: on the GPU machine too

REPO = Path(__file__).resolve().parents[2]
TRAIN = REPO / "train"
BENCHMARKS = TRAIN / "benchmarks"
sys.path.insert(0, str(REPO))  # the library of this repository (not installed on the GPU machine), imported late
DEVICE_DIR = REPO / ".device"  # git-ignored: wheels/, data/ (filled by --prepare), site/ (installed there)
NEEDED = ("datasets", "evaluate", "dill", "multiprocess")  # what a machine with torch/transformers/accelerate lacks
GPU_PYTHON = "3.12"  # the GPU machine's Python, for which --prepare downloads wheels

BUDGET_S = 420  # the whole command: 7 minutes
RESERVE_S = 15  # kept back at the end for the summary, the plots and the archive
TRAINER_FACTOR = 2.0  # a Trainer step (data loading, evaluations, logging) over the bare loop's step, assumed
ASSUMED_STEP_S = {False: 0.05, True: 0.5}  # part 3's bare step time when part 1 measured none: GPU, smoke
MIN_EPOCHS = {"paper": 10, "fast": 24}  # fewer pre-training epochs than this: the table waits for a call of its own
TABLE_STARTUP_S = 30  # an experiment's start: imports of its workers, loading and tokenising the data, assumed
SMOKE_PART_S = 240  # --smoke: each part's budget (a busy CPU is slow; the budget only stops a hang)
SMALL = "hidden_size=32,num_hidden_layers=1,num_attention_heads=2,intermediate_size=64"  # --smoke's models

# Targets (the issue this command answers): BERT-6's best path at least 3x the paper-style loop at batch 32 and
# at least 40% MFU; the five-member Table 8 committee at most half BERT-6's latency at batch 1.
TARGET_SPEEDUP, TARGET_MFU, TARGET_LATENCY_RATIO = 3.0, 40.0, 0.5


# --- parts 1 and 2: the benchmark commands ------------------------------------------------------------------------


def benchmark_parts(smoke: bool, results: Path) -> list[dict]:
    """The commands of parts 1 and 2 in order of value: name, what, budget (s), argv; smoke: tiny and on a CPU.
    Each part's measured rows go to results/<part>.jsonl as it measures them (typed, read back as they are)."""
    parts = _benchmark_parts(smoke)
    for part in parts:
        part["results"] = results / f"{part['name']}.jsonl"
        part["argv"] += ["--results", str(part["results"])]
    return parts


def _benchmark_parts(smoke: bool) -> list[dict]:
    python = sys.executable
    pretrain, latency, graphs = (str(BENCHMARKS / name) for name in ("bench_pretrain.py", "bench_latency.py",
                                                                       "latency_graphs.py"))
    if smoke:  # one command of each script (1b, 1c and 2b differ from 1a and 2c only in their numbers)
        tiny_latency = ["--device", "cpu", "--batch-sizes", "1", "--seq-len", "16", "--warmup", "1", "--repeats", "2",
                        "--committees", "cheap", "--ratio-committee", "cheap"]
        return [
            dict(name="1a", what="BERT-6 (smoke: 1 small block), batch 4", budget=SMOKE_PART_S,
                 argv=[python, pretrain, "--device", "cpu", "--threads", "2", "--steps", "2", "--warmup", "1",
                       "--preset", "bert-6", "--config-overrides", SMALL, "--batch-size", "4"]),
            dict(name="2a", what="committee latency, eager", budget=SMOKE_PART_S,
                 argv=[python, latency, *tiny_latency, "--threads", "2"]),
            dict(name="2c", what="committee latency, torch.compile (smoke: eager backend)", budget=SMOKE_PART_S,
                 argv=[python, graphs, *tiny_latency, "--variants", "compiled", "--compile-backend", "eager"]),
        ]
    gpu = ["--device", "cuda", "--warmup", "5"]
    latency_args = ["--device", "cuda", "--batch-sizes", "1", "32", "--committees", "table8", "cheap",
                    "--ratio-committee", "table8", "--warmup", "10", "--repeats", "50"]
    return [
        dict(name="1a", what="BERT-6, batch 32, every precision", budget=90,
             argv=[python, pretrain, *gpu, "--preset", "bert-6", "--batch-size", "32", "--steps", "60",
                   "--precisions"]),
        dict(name="1b", what="BERT-6, batch 128, eager and compiled", budget=100,
             argv=[python, pretrain, *gpu, "--preset", "bert-6", "--batch-size", "128", "--steps", "30", "--compile"]),
        dict(name="1c", what="tiny model, batch 128, eager and compiled", budget=60,
             argv=[python, pretrain, *gpu, "--preset", "tiny", "--wordpiece-vocab-size", "4096", "--batch-size", "128",
                   "--steps", "30", "--compile"]),
        dict(name="2a", what="committee latency, eager", budget=30, argv=[python, latency, *latency_args]),
        dict(name="2b", what="committee latency, CUDA graphs", budget=30,
             argv=[python, graphs, *latency_args, "--variants", "graph"]),
        dict(name="2c", what="committee latency, torch.compile(mode='reduce-overhead')", budget=75,
             argv=[python, graphs, *latency_args, "--variants", "compiled"]),
    ]


def full_epochs(recipe: str) -> tuple[int, int]:
    """The recipe's pre-training and fine-tuning epochs (tlm_hf.training.recipes): a table's full length."""
    from tlm_hf.training.recipes import get_recipe

    chosen = get_recipe(recipe)
    return chosen.pretraining["num_train_epochs"], chosen.finetuning["num_train_epochs"]


# --- part 3: the tables, sized to the time left -------------------------------------------------------------------


def estimate_seconds(step_s: float, *, pretrain_steps: list[int], finetune_steps: int, seeds: int, jobs: int,
                     startup_s: float) -> float:
    """Wall time of an experiment: rows pre-trained for `pretrain_steps` each, then `seeds` fine-tunes per row and
    as many scratch fine-tunes of `finetune_steps`, `jobs` runs at once, each step `step_s` seconds. The longest
    chain (the longest pre-training, then a fine-tune) or the total work over `jobs`, whichever is longer."""
    chain = max(pretrain_steps) + finetune_steps
    total = sum(pretrain_steps) + (len(pretrain_steps) + 1) * seeds * finetune_steps
    return startup_s + step_s * max(chain, total / jobs)


def size_table(step_s: float, seconds: float, *, w_s: list[int], finetune_examples: int, batch_size: int,
               pretrain_epochs: int, finetune_epochs: int, seeds: tuple[int, int], jobs: int,
               startup_s: float, min_epochs: int = 1) -> dict | None:
    """The most epochs (up to the recipe's, pre-training and fine-tuning cut in proportion), then the most seeds
    (between seeds[0] and seeds[1]), whose estimate fits `seconds`; None when even `min_epochs` pre-training epochs
    with seeds[0] seeds do not fit (fewer would measure little: better left to a call of its own)."""
    for epochs in range(pretrain_epochs, min_epochs - 1, -1):
        tune_epochs = max(1, round(epochs * finetune_epochs / pretrain_epochs))
        pretrain_steps = [epochs * math.ceil(w / batch_size) for w in w_s]
        finetune_steps = tune_epochs * math.ceil(finetune_examples / batch_size)
        for count in range(seeds[1], seeds[0] - 1, -1):
            estimate = estimate_seconds(step_s, pretrain_steps=pretrain_steps, finetune_steps=finetune_steps,
                                        seeds=count, jobs=jobs, startup_s=startup_s)
            if estimate <= seconds:
                return dict(pretrain_epochs=epochs, finetune_epochs=tune_epochs, seeds=count,
                            estimate_s=round(estimate, 1), steps=sum(pretrain_steps) + (len(w_s) + 1) * count *
                            finetune_steps)
    return None


def table_plans(data: Path, smoke: bool) -> list[dict]:
    """Tables 6 and 5 with the paper's recipe, then Table 6 with the fast one: the repository's offline configs
    (their per-W_s learning rates and weight decays from the paper's appendix) on the bundled WikiText-2 and
    DBpedia-14 samples and the carried AG News files; the W_s rows the issue asks for."""
    ag_news = f"train={data / 'ag_news' / 'train_partial.jsonl.gz'},test={data / 'ag_news' / 'test.jsonl.gz'}"
    common = dict(corpus="sample:wikitext2", tokenizer="sample:bert-base-uncased")
    return [
        dict(name="table6-paper", base="table6-local.yaml", recipe="paper", w_s=[5000], labels=14,
             settings=dict(common, task_data="sample:dbpedia_14"), needs=[],
             paper="DBpedia-14, 100 per label: scratch 0.938, W_s 5,000 0.957"),
        dict(name="table5-paper", base="table5-local.yaml", recipe="paper", w_s=[5000, 2000], labels=4,
             settings=dict(common, task_data=ag_news),
             needs=[data / "ag_news" / "train_partial.jsonl.gz", data / "ag_news" / "test.jsonl.gz"],
             paper="AG News, 1,000 per label: scratch 0.840, W_s 2,000 0.854, W_s 5,000 0.861"),
        dict(name="table6-fast", base="table6-local.yaml", recipe="fast", w_s=[5000], labels=14,
             settings=dict(common, task_data="sample:dbpedia_14"), needs=[],
             paper="not in the paper: the fast recipe beside the paper's"),
    ][: 2 if smoke else 3]  # --smoke: the fast recipe's table differs from Table 6 only in its settings


def table_config(plan: dict, decision: dict, smoke: bool) -> dict:
    """The experiment's settings: the base config's, the plan's data and rows, the decision's epochs and seeds."""
    base = yaml.safe_load((TRAIN / "configs" / plan["base"]).read_text())
    config = {key: value for key, value in base.items() if key not in ("w_s", "learning_rate", "weight_decay")}
    config.update(plan["settings"], recipe=plan["recipe"], w_s=plan["w_s"], seeds=list(range(decision["seeds"])),
                  pretrain_epochs=decision["pretrain_epochs"], finetune_epochs=decision["finetune_epochs"],
                  pretrain_args="save_strategy=no")  # no checkpoint per epoch: a stopped run starts again
    if plan["recipe"] == "paper":  # the appendix's values for the chosen rows (one value: every row)
        for key in ("learning_rate", "weight_decay"):
            values = base[key] if len(base[key]) > 1 else base[key] * len(base["w_s"])
            config[key] = [float(values[base["w_s"].index(w)]) for w in plan["w_s"]]  # YAML reads 5e-5 as text
    else:  # the recipe's own learning rates, for both arms
        for key in ("scratch_learning_rate", "scratch_weight_decay"):
            config.pop(key, None)
    if smoke:
        config.update(config_overrides=SMALL, max_length=32, train_per_label=3, test_per_label=3,
                      w_s=[w // 100 for w in plan["w_s"]],
                      pretrain_args="save_strategy=no,heldout_size=16,per_device_eval_batch_size=16")
    return config


def decide_table(plan: dict, step_s: float, how: str, calibration: float, seconds: float, jobs: int,
                 smoke: bool) -> dict:
    """How much of the plan's table fits `seconds` (size_table), with the line that says why; seeds 0 when
    nothing fits. smoke: one epoch and one seed at W_s / 100, 3 examples per label."""
    base = yaml.safe_load((TRAIN / "configs" / plan["base"]).read_text())
    recipe_epochs = full_epochs(plan["recipe"])
    w_s = [w // 100 for w in plan["w_s"]] if smoke else plan["w_s"]
    seeds = (1, 1) if smoke else (2, 5)
    decision = size_table(
        step_s, seconds, w_s=w_s, finetune_examples=(3 if smoke else base["train_per_label"]) * plan["labels"],
        batch_size=32, pretrain_epochs=1 if smoke else recipe_epochs[0],
        finetune_epochs=1 if smoke else recipe_epochs[1], seeds=seeds, jobs=jobs,
        startup_s=(10 if smoke else TABLE_STARTUP_S) * calibration,
        min_epochs=1 if smoke else MIN_EPOCHS[plan["recipe"]])
    calibrated = f", x{calibration:.2f} from the tables before" if calibration != 1 else ""
    step = f"step {step_s * 1000:.1f} ms: {how}{calibrated}"
    if decision is None:
        least = 1 if smoke else MIN_EPOCHS[plan["recipe"]]
        return dict(seeds=0, line=f"{least} pre-training epoch{'s' if least > 1 else ''} with {seeds[0]} "
                                  f"seed{'s' if seeds[0] > 1 else ''} do not fit the {seconds:.0f} s left ({step}); "
                                  f"run --parts 3 again with a larger --budget")
    decision["line"] = (
        f"{plan['recipe']} recipe at {decision['pretrain_epochs']} of {recipe_epochs[0]} pre-training and "
        f"{decision['finetune_epochs']} of {recipe_epochs[1]} fine-tuning epochs, "
        f"{decision['seeds']} seed{'s' if decision['seeds'] > 1 else ''}, W_s {', '.join(f'{w:,}' for w in w_s)} "
        f"and scratch: about {decision['steps']:,} steps, estimated {decision['estimate_s']:.0f} s of the "
        f"{seconds:.0f} s left ({jobs} runs at once; {step})")
    return decision


# --- running a part ------------------------------------------------------------------------------------------------


class Console:
    """Lines to the console and to gpu_check.log, each with the time since the start."""

    def __init__(self, path: Path):
        self.path, self.start = path, time.monotonic()

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def __call__(self, line: str = "") -> None:
        stamp = f"[{int(self.elapsed()) // 60}:{int(self.elapsed()) % 60:02d}] "
        print(stamp + line, flush=True)
        with open(self.path, "a") as log:
            log.write(stamp + line + "\n")


def run_part(argv: list[str], budget_s: float, log_file: Path, env: dict) -> dict:
    """Run `argv` in a process group of its own, output to `log_file`; stop the whole group at `budget_s`.
    Returns status ("ok", "failed (exit N)" or "stopped at its N s budget"), seconds and the output."""
    start = time.monotonic()
    with open(log_file, "w") as log:
        log.write("$ " + shlex.join(argv) + "\n")
        log.flush()
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env,
                                   start_new_session=True)
        try:
            code = process.wait(timeout=budget_s)
            status = "ok" if code == 0 else f"failed (exit {code})"
        except subprocess.TimeoutExpired:
            for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, None)):
                try:
                    os.killpg(process.pid, sig)
                    process.wait(timeout=grace)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue
            process.wait()
            status = f"stopped at its {budget_s:.0f} s budget"
    return dict(status=status, seconds=round(time.monotonic() - start, 1), output=log_file.read_text())


def part_environment(smoke: bool) -> dict:
    """The parts' environment: this repository and the installed wheels importable, no Hub, no GPU when smoke."""
    env = dict(os.environ)
    paths = [str(REPO), str(DEVICE_DIR / "site"), env.get("PYTHONPATH", "")]
    env.update(PYTHONPATH=os.pathsep.join(p for p in paths if p), HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1",
               PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", MPLBACKEND="Agg")
    if smoke:
        env["CUDA_VISIBLE_DEVICES"] = ""
    return env


# --- setting the machine up ---------------------------------------------------------------------------------------


def missing_modules(env: dict, modules=NEEDED) -> list[str]:
    """The modules of `modules` that the parts' Python cannot import."""
    probe = ("import importlib.util, sys; "
             "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))")
    done = subprocess.run([sys.executable, "-c", probe, *modules], env=env, capture_output=True, text=True, check=True)
    return done.stdout.split()


def install_wheels(wheels: Path, site: Path, env: dict, modules=NEEDED) -> str:
    """Install every wheel of `wheels` into `site` (no index, no dependency resolution: the machine has the rest)
    when a module of `modules` is missing; what was done, in one line. A missing folder or a failed install is the
    user's to fix: SystemExit with one line."""
    missing = missing_modules(env, modules)
    if not missing:
        return f"{', '.join(modules)}: already importable"
    files = sorted(wheels.glob("*.whl")) if wheels.is_dir() else []
    if not files:
        sys.exit(f"gpu_check.py: error: {', '.join(missing)} missing and no wheels in {wheels}: run "
                 f"`python train/benchmarks/gpu_check.py --prepare` where pip reaches PyPI, and bring {wheels.parent} along")
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index", "--no-deps",
                           "--no-compile", "--no-cache-dir", "--upgrade", "--target", str(site), *map(str, files)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"gpu_check.py: error: installing {wheels}/*.whl failed: "
                 f"{(done.stderr.strip().splitlines() or ['(no message)'])[-1]}")
    still = missing_modules(env, modules)
    if still:
        sys.exit(f"gpu_check.py: error: {', '.join(still)} still missing after installing {wheels}/*.whl: "
                 f"add its wheel with --prepare")
    return f"installed {', '.join(f.name for f in files)} into {site}"


def environment() -> dict:
    """Versions of what the parts use and the GPU (or "none"), importing what the parts import: a wheel that does
    not fit this machine fails here, in one line, before any part starts."""
    import importlib.metadata as metadata
    import platform

    try:
        import datasets  # noqa: F401
        import evaluate  # noqa: F401
        import torch

        import tlm_hf.training.finetuning  # noqa: F401
    except ImportError as error:
        sys.exit(f"gpu_check.py: error: the parts cannot import what they need: {error} (check the wheels in "
                 f"{DEVICE_DIR / 'wheels'} against this machine's packages)")
    versions = {"python": platform.python_version()}
    for name in ("torch", "transformers", "accelerate", "datasets", "evaluate", "pyarrow", "tokenizers"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    versions["cuda"] = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    return versions


def prepare(python_version: str, ag_news: Path) -> None:
    """Fill .device/: wheels of NEEDED at this machine's versions for the GPU machine's Python, and AG News."""
    from importlib.metadata import version

    wheels, data = DEVICE_DIR / "wheels", DEVICE_DIR / "data" / "ag_news"
    wheels.mkdir(parents=True, exist_ok=True)
    for old in wheels.glob("*.whl"):
        old.unlink()  # one version of each
    platforms = [f"--platform=manylinux{tag}_x86_64" for tag in ("_2_28", "_2_17", "2014", "1")]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:",
                    f"--python-version={python_version}", "--implementation=cp", *platforms, "-d", str(wheels),
                    *(f"{name}=={version(name)}" for name in NEEDED)], check=True)
    for name in ("train_partial.jsonl.gz", "test.jsonl.gz"):
        if not (ag_news / name).is_file():
            sys.exit(f"gpu_check.py: error: {ag_news / name} not found: give --ag_news, the folder of AG News's "
                     f"train_partial.jsonl.gz and test.jsonl.gz")
    data.mkdir(parents=True, exist_ok=True)
    for name in ("train_partial.jsonl.gz", "test.jsonl.gz"):
        (data / name).write_bytes((ag_news / name).read_bytes())
    size = sum(f.stat().st_size for f in DEVICE_DIR.rglob("*") if f.is_file() and "site" not in f.parts)
    print(f"{DEVICE_DIR}: {', '.join(sorted(f.name for f in wheels.iterdir()))}; AG News; {size / 2**20:.1f} MiB")


# --- the summary ---------------------------------------------------------------------------------------------------


def throughput_summary(results: list[dict]) -> tuple[list[str], dict]:
    """Part 1's table and target verdicts, each ratio against the paper-style loop at batch 32 where measured."""
    lines = ["| model | path | batch | real tokens/s | x paper-style loop | MFU | peak GiB | part |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    verdict = {}
    for model in dict.fromkeys(r["model"] for r in results):
        rows = [r for r in results if r["model"] == model]
        baselines = [r for r in rows if r["path"] == "baseline"]
        reference = next((r for r in baselines if r["batch"] == 32), baselines[0] if baselines else None)
        for r in rows:
            ratio = f"{r['tokens_per_s'] / reference['tokens_per_s']:.2f}" if reference else "-"
            path = f"{r['path']}{' compiled' if r['compiled'] else ''} ({r['precision']})"
            mfu = "-" if r["mfu"] is None else f"{r['mfu']:.1f}%"
            lines.append(f"| {model} | {path} | {r['batch']} | {r['tokens_per_s']:,.0f} | {ratio} | {mfu} | "
                         f"{r['peak_gib']:.2f} | {r['part']} |")
        ours = [r for r in rows if r["path"] == "ours"]
        if ours:
            best = max(ours, key=lambda r: r["tokens_per_s"])
            verdict[model] = dict(
                best=f"{'compiled ' if best['compiled'] else ''}{best['precision']}, batch {best['batch']}",
                speedup=round(best["tokens_per_s"] / reference["tokens_per_s"], 2) if reference else None,
                reference=f"paper-style loop, batch {reference['batch']}" if reference else None,
                mfu=max((r["mfu"] for r in ours if r["mfu"] is not None), default=None))
    return lines, verdict


def step_rate(results: list[dict]) -> tuple[float, str] | None:
    """Seconds per step of BERT-6's ours path at the paper's batch 32 (eager, the precision the scripts choose),
    times TRAINER_FACTOR: what part 3 sizes itself with."""
    rows = [r for r in results if r["model"] == "bert-6" and r["path"] == "ours" and not r["compiled"]]
    if not rows:
        return None
    row = min(rows, key=lambda r: (r["batch"] != 32, -r["tokens_per_s"]))  # batch 32, its fastest precision
    bare = row["batch"] * row["mean_length"] / row["tokens_per_s"]
    return bare * TRAINER_FACTOR, (f"{bare * 1000:.1f} ms per step of part {row['part']}'s ours ({row['precision']}) "
                                   f"at batch {row['batch']}, x{TRAINER_FACTOR:g} for the Trainer and evaluations")


def plot(path: Path, labels: list[str], values: list[float], xlabel: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(8, 0.35 * len(labels) + 1.2))
    axes.barh(labels[::-1], values[::-1])
    axes.set_xlabel(xlabel)
    axes.set_title(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def archive(output_dir: Path, target: Path) -> None:
    """Every log, table, config and plot of `output_dir` (no weights, tokenizers or checkpoints) in one .tar.gz."""
    keep = {".log", ".txt", ".md", ".json", ".csv", ".png", ".yaml"}
    skip = {"checkpoints"}
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(target.name + ".tmp")
    with tarfile.open(temporary, "w:gz") as tar:
        for path in sorted(output_dir.rglob("*")):
            relative = path.relative_to(output_dir)
            if path.is_file() and path.suffix in keep and not skip & set(relative.parts) and \
                    not path.name.startswith(("tokenizer", "vocab", "special_tokens")):
                tar.add(path, arcname=str(Path(output_dir.name) / relative))
    os.replace(temporary, target)


# --- the command ---------------------------------------------------------------------------------------------------


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output_dir", default="runs/gpu-check")
    parser.add_argument("--smoke", action="store_true", help="the same list on a CPU, tiny sizes, no compilation")
    parser.add_argument("--parts", default="1,2,3", help="which parts to run, e.g. 3 or 1,2")
    parser.add_argument("--budget", type=float, default=None,
                        help=f"seconds for the whole command (default {BUDGET_S}; --smoke: 900, only against a hang)")
    parser.add_argument("--data", default=str(DEVICE_DIR / "data"), help="folder with ag_news/ (from --prepare)")
    parser.add_argument("--jobs", type=int, default=None, help="part 3's runs at once (default 6 on a GPU, 2 smoke)")
    parser.add_argument("--archive", default=None, help="also pack the output folder, weights left out, into this")
    parser.add_argument("--prepare", action="store_true",
                        help="fill .device/ for the GPU machine (wheels and AG News), then stop; needs PyPI")
    parser.add_argument("--ag_news", default=str(REPO.parent / "shared" / "data" / "ag_news"),
                        help="with --prepare: folder holding AG News's train_partial.jsonl.gz and test.jsonl.gz")
    parser.add_argument("--python_version", default=GPU_PYTHON, help="with --prepare: the GPU machine's Python")
    args = parser.parse_args(argv)
    if args.prepare:
        return prepare(args.python_version, Path(args.ag_news))
    parts = {p.strip() for p in args.parts.split(",")}
    if not parts or not parts <= {"1", "2", "3"}:
        parser.error(f"--parts {args.parts!r}: give some of 1, 2, 3, separated by commas")
    args.budget = args.budget or (900 if args.smoke else BUDGET_S)
    if args.budget < 60:
        parser.error(f"--budget {args.budget:g}: give at least 60 seconds")
    output_dir = Path(args.output_dir).resolve()
    (output_dir / "logs").mkdir(parents=True, exist_ok=True)
    console = Console(output_dir / "gpu_check.log")
    deadline = args.budget - RESERVE_S
    jobs = args.jobs or (2 if args.smoke else 6)
    previous = output_dir / "summary.json"  # a rerun of some parts keeps the others' results
    summary = json.loads(previous.read_text()) if previous.is_file() else {}
    summary.update(smoke=args.smoke, budget_s=args.budget, throughput=summary.get("throughput", []),
                   latency=summary.get("latency", []), tables=summary.get("tables", {}),
                   parts_run=summary.get("parts_run", {}))

    # -- setup: datasets and evaluate from wheels where missing; what the machine is ---------------------------
    console(f"gpu_check{' --smoke' if args.smoke else ''}: parts {','.join(sorted(parts))} in {args.budget:.0f} s; "
            f"output {output_dir}")
    env = part_environment(args.smoke)
    console(install_wheels(DEVICE_DIR / "wheels", DEVICE_DIR / "site", env))
    sys.path[:0] = [str(REPO), str(DEVICE_DIR / "site")]
    versions = environment()
    from tlm_hf.fileio import atomic_write, write_json  # importable now

    smi = subprocess.run(["nvidia-smi"], capture_output=True, text=True).stdout if shutil.which("nvidia-smi") else ""
    atomic_write(output_dir / "environment.txt", "".join(f"{k} {v}\n" for k, v in versions.items()) + smi)
    summary["environment"] = versions
    console("; ".join(f"{k} {v}" for k, v in versions.items()))
    if not args.smoke and versions.get("cuda", "none") == "none":
        sys.exit("gpu_check.py: error: no GPU visible to torch: run on the GPU machine, or use --smoke on a CPU")

    def time_left() -> float:
        return deadline - console.elapsed()

    def run(name: str, what: str, argv: list[str], budget: float) -> dict | None:
        budget = min(budget, time_left())
        if budget < 10:
            console(f"part {name} ({what}): skipped, {max(time_left(), 0):.0f} s left")
            summary["parts_run"][name] = dict(what=what, status="skipped: no time left", command=shlex.join(argv))
            return None
        console(f"part {name} ({what}): {shlex.join(argv)}")
        result = run_part(argv, budget, output_dir / "logs" / f"{name}.log", env)
        console(f"part {name}: {result['status']} in {result['seconds']:.0f} s (logs/{name}.log)")
        if result["status"] != "ok":
            tail = [line for line in result["output"].splitlines() if line.strip()][-1:]
            console(f"part {name}: last line: {tail[0] if tail else '(none)'}")
        summary["parts_run"][name] = dict(what=what, status=result["status"], seconds=result["seconds"],
                                          command=shlex.join(argv))
        return result

    # -- parts 1 and 2: throughput and MFU; committee latency --------------------------------------------------------
    from tlm_hf.fileio import read_json_lines  # the parts' rows, typed as they measured them

    for part in benchmark_parts(args.smoke, output_dir / "logs"):
        if part["name"][0] not in parts:
            continue
        part["results"].unlink(missing_ok=True)  # this call's rows only: a part run again measures afresh
        result = run(part["name"], part["what"], part["argv"], part["budget"])
        if result is None:
            continue
        kind = "throughput" if part["name"].startswith("1") else "latency"
        summary[kind] = [r for r in summary[kind] if r["part"] != part["name"]]
        summary[kind] += [dict(r, part=part["name"]) for r in read_json_lines(part["results"])]

    # -- part 3: the tables, each sized to the time left ---------------------------------------------------------------
    if "3" in parts:
        rate = step_rate(summary["throughput"])
        if rate is None:
            rate = ASSUMED_STEP_S[args.smoke] * TRAINER_FACTOR, "no BERT-6 step rate from part 1: assumed"
        step_s, how = rate
        calibration = 1.0  # measured over estimated wall time of the tables run so far
        for plan in table_plans(Path(args.data).resolve(), args.smoke):
            folder = output_dir / "tables" / plan["name"]
            missing = [str(p) for p in plan["needs"] if not Path(p).is_file()]
            if missing:
                console(f"part 3 {plan['name']}: skipped, {missing[0]} not found (fill it with --prepare)")
                summary["tables"][plan["name"]] = dict(status=f"skipped: {missing[0]} not found")
                continue
            decision_file = folder / "decision.json"
            if decision_file.is_file() and (folder / "results.md").is_file():
                console(f"part 3 {plan['name']}: done in an earlier call ({folder / 'results.md'}); to measure it "
                        f"again, give another --output_dir")
                continue
            if decision_file.is_file():  # an earlier call's, stopped: the same runs, so its finished ones are reused
                decision = json.loads(decision_file.read_text())
                console(f"part 3 {plan['name']}: continuing the earlier decision: {decision['line']}")
            else:
                decision = decide_table(plan, step_s * calibration, how, calibration, time_left() - 5, jobs, args.smoke)
                console(f"part 3 {plan['name']}: {decision['line']}")
                if decision["seeds"] == 0:
                    summary["tables"][plan["name"]] = dict(status="skipped: does not fit the time left",
                                                           decision=decision["line"])
                    continue
                write_json(decision_file, decision)
            config_file = folder / "config.yaml"
            atomic_write(config_file, yaml.safe_dump(table_config(plan, decision, args.smoke), sort_keys=False))
            argv = [sys.executable, str(TRAIN / "experiment.py"), "--config", str(config_file), "--output_dir",
                    str(folder), "--jobs", str(jobs), "--threads_per_run", "1" if args.smoke else "2"]
            result = run(f"3-{plan['name']}", plan["paper"], argv, time_left())
            if result is None:
                summary["tables"][plan["name"]] = dict(status="skipped: no time left", decision=decision["line"])
                continue
            results_md = folder / "results.md"
            summary["tables"][plan["name"]] = dict(
                status=result["status"], seconds=result["seconds"], decision=decision["line"], paper=plan["paper"],
                command=shlex.join(argv), results=results_md.read_text() if result["status"] == "ok" else None)
            if result["status"] == "ok" and decision.get("estimate_s"):
                calibration *= result["seconds"] / decision["estimate_s"]

    # -- the summary: every figure with its command, the targets; plots; the archive --------------------------------
    write_summary(summary, output_dir)
    console(f"wrote {output_dir / 'summary.md'}")
    if args.archive:
        archive(output_dir, Path(args.archive).resolve())
        console(f"wrote {Path(args.archive).resolve()}")
    print((output_dir / "summary.md").read_text())


def write_summary(summary: dict, output_dir: Path) -> None:
    """summary.json, summary.md (tables of every figure, the command of each part, the targets), and the plots."""
    from tlm_hf.fileio import atomic_write, write_json  # imported here: the setup has made them importable

    env = summary.get("environment", {})
    lines = [f"# GPU check{' (smoke run on a CPU: no GPU figures)' if summary['smoke'] else ''}", "",
             f"Device: {env.get('cuda', '?')}; python {env.get('python', '?')}, torch {env.get('torch', '?')}, "
             f"transformers {env.get('transformers', '?')}, datasets {env.get('datasets', '?')}.", "",
             "## Parts", ""]
    if summary["smoke"]:
        lines += ["A smoke run tests the command: tiny models on a CPU, one command per script (1b, 1c, 2b and "
                  "table6-fast run on a GPU only). Its figures measure nothing.", ""]
    lines += ["| part | what | status | seconds | command |", "| --- | --- | --- | --- | --- |"]
    for name, part in summary["parts_run"].items():
        lines.append(f"| {name} | {part['what']} | {part['status']} | {part.get('seconds', '-')} | "
                     f"`{part['command']}` |")

    lines += ["", "## 1. Pre-training throughput and MFU", ""]
    table, verdict = throughput_summary(summary["throughput"])
    lines += table if summary["throughput"] else ["Not measured."]
    bert = verdict.get("bert-6")
    if bert:
        speedup_ok = bert["speedup"] is not None and bert["speedup"] >= TARGET_SPEEDUP
        mfu_ok = bert["mfu"] is not None and bert["mfu"] >= TARGET_MFU
        lines += ["", f"BERT-6, fastest path: {bert['best']}: {bert['speedup']}x the {bert['reference']} "
                      f"(target {TARGET_SPEEDUP:g}x: {'met' if speedup_ok else 'missed'}); best MFU "
                      f"{bert['mfu'] if bert['mfu'] is not None else '-'}% (target {TARGET_MFU:g}%: "
                      f"{'met' if mfu_ok else 'missed'})."]
        summary["targets"] = dict(speedup=speedup_ok, mfu=mfu_ok)
    if summary["throughput"]:
        rows = summary["throughput"]
        plot(output_dir / "throughput.png",
             [f"{r['model']} {r['path']}{' compiled' if r['compiled'] else ''} {r['precision']} b{r['batch']}"
              for r in rows], [r["tokens_per_s"] for r in rows], "real tokens per second",
             f"Pre-training throughput ({env.get('cuda', '?')})")

    lines += ["", "## 2. Committee latency (p50 ms, sequence 128)", ""]
    latency = summary["latency"]
    if latency:
        lines += ["| model | variant | batch | p50 ms | p95 ms | max abs logit difference | part |",
                  "| --- | --- | --- | --- | --- | --- | --- |"]
        seen = set()
        for r in latency:
            key = (r["model"], r["variant"], r["batch"])
            if key in seen:  # the eager rows of latency_graphs.py repeat bench_latency.py's
                continue
            seen.add(key)
            difference = "-" if r["difference"] is None else f"{r['difference']:.1e}"
            lines.append(f"| {r['model']} | {r['variant']} | {r['batch']} | {r['p50_ms']:.2f} | {r['p95_ms']:.2f} | "
                         f"{difference} | {r['part']} |")
        fastest = {}
        for r in latency:
            if r["batch"] == 1 and "one after another" not in r["variant"]:
                fastest[r["model"]] = min(r["p50_ms"], fastest.get(r["model"], math.inf))
        for committee in ("table8 committee", "cheap committee"):
            if committee not in fastest or "BERT-6" not in fastest:
                continue
            ratio = fastest[committee] / fastest["BERT-6"]
            line = f"Batch 1, the fastest variant of each: {committee} / BERT-6 = {ratio:.2f}"
            if committee == "table8 committee":  # the target is the paper's five-member committee's
                ok = ratio <= TARGET_LATENCY_RATIO
                line += f" (target at most {TARGET_LATENCY_RATIO:g}: {'met' if ok else 'missed'})"
                summary["targets"] = dict(summary.get("targets", {}), latency=ok)
            lines += ["", line + "."]
        shown = [r for r in latency if r["batch"] == 1]
        if shown:
            plot(output_dir / "latency.png", [f"{r['model']} {r['variant']} ({r['part']})" for r in shown],
                 [r["p50_ms"] for r in shown], "p50 latency, ms (batch 1)", f"Latency ({env.get('cuda', '?')})")
    else:
        lines.append("Not measured.")

    lines += ["", "## 3. The paper's tables at BERT-6 size", ""]
    for name, table in summary["tables"].items():
        lines += [f"### {name}", "", f"Status: {table['status']}."]
        if table.get("decision"):
            lines.append(f"Sized: {table['decision']}.")
        if table.get("paper"):
            lines.append(f"Paper: {table['paper']}.")
        if table.get("command"):
            lines.append(f"Command: `{table['command']}`")
        if table.get("results"):
            lines += ["", table["results"].strip()]
        lines.append("")
    if not summary["tables"]:
        lines.append("Not run.")
    atomic_write(output_dir / "summary.md", "\n".join(lines) + "\n")
    write_json(output_dir / "summary.json", summary)


if __name__ == "__main__":
    main()
