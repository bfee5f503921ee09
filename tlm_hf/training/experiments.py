"""The paper's experiment matrix: cached runs, rows of a results table, and the table and plot files.

A row is one pre-training subset (W_s paragraphs chosen a random, custom or avoid way) with its token
statistics, and test accuracy over seeds for two arms: fine-tuned from that pre-training, and from
scratch (same architecture, random initialisation). Gap = mean accuracy pre-trained - mean scratch.
"""

import io
import json
import statistics
import textwrap
from dataclasses import asdict, dataclass, field
from pathlib import Path


from ..errors import SettingsError
from ..data.subsets import SUBSET_KINDS
from ..settings import (
    FINETUNE_SETTINGS,
    PRETRAIN_SETTINGS,
    ExperimentSettings,
    check_parsed,
    check_settings,
    check_together,
    parse_key_values,
)
from .launch import launch_settings, run_plan
from .recipes import get_recipe
from .results import markdown_table, write_results
from .run_definition import cache_key

# Held-out MLM loss, masked-token accuracy, unigram loss and context gain of the row's pre-training (see
# tlm_hf.training.mlm): whether it cleared the unigram plateau; and its BLiMP score on a sample of minimal pairs,
# when pre-training measured one (blimp_pairs_per_paradigm; tlm_hf.evaluation.blimp): what grammar it learnt.
HELDOUT_FIELDS = ("heldout_mlm_loss", "heldout_accuracy", "unigram_loss", "context_gain", "blimp_overall")
ROW_FIELDS = (
    "subset", "W_s", "T_W", "T_C", "T_M", *HELDOUT_FIELDS, "acc_pretrained_mean", "acc_pretrained_std",
    "acc_scratch_mean", "acc_scratch_std", "gap", "seeds",
)


@dataclass
class PlannedRun:
    """One child run of an experiment: its stage, its complete settings and its cached folder."""

    stage: str  # "pretraining" or "finetuning" (tlm_hf.training.launch.STAGE_MODULES)
    settings: dict
    run_dir: Path
    label: str
    done_file: str  # written last by the run: its presence marks a finished run


@dataclass
class PlannedRow:
    """One table row: a pre-training, its fine-tunes (one per seed) and the scratch arm it is compared with.

    With pretrain_seeds a W_s setting gives one row per pre-training seed (`pretrain_seed`): the unit of inference.
    With shuffled_control, `shuffled` is the same pre-training on word-shuffled paragraphs, and `shuffled_finetunes`
    its fine-tunes (the same seeds, compared with the same scratch twin)."""

    subset: str
    pretraining: PlannedRun
    finetunes: list[PlannedRun]
    scratch: list[PlannedRun]
    pretrain_seed: int | None = None
    shuffled: PlannedRun | None = None
    shuffled_finetunes: list[PlannedRun] = field(default_factory=list)


@dataclass
class ExperimentPlan:
    rows: list[PlannedRow]

    def runs(self) -> list[PlannedRun]:
        """Every run once, in the order they start: a row's pre-training before the fine-tunes that read it."""
        unique = {}
        for row in self.rows:
            shuffled = [row.shuffled] if row.shuffled else []
            for run in (row.pretraining, *shuffled, *row.scratch, *row.finetunes, *row.shuffled_finetunes):
                unique.setdefault(run.run_dir, run)
        return list(unique.values())


def broadcast_rows(exp: ExperimentSettings) -> list[dict]:
    """One dict per table row; a list given with one value applies to every row, an empty one the recipe's."""
    columns = dict(w_s=exp.w_s, subset=exp.subset, learning_rate=exp.learning_rate, weight_decay=exp.weight_decay)
    n = len(exp.w_s)
    for name, values in columns.items():
        if len(values) not in (0, 1, n):
            raise SettingsError(f"{name} has {len(values)} values for {n} rows (w_s); give one value or {n}")
    rows = [{name: (values[i if len(values) > 1 else 0] if values else None) for name, values in columns.items()}
            for i in range(n)]
    for index, row in enumerate(rows):  # a row is a point of the table's trends: the same row twice would count twice
        if row in rows[:index]:
            raise SettingsError(f"row {index + 1} repeats row {rows.index(row) + 1} (w_s {row['w_s']}, subset "
                                f"{row['subset']}); give each row once")
    return rows


def _set_only(**values) -> dict:
    """The settings that were set (None means: the recipe's value)."""
    return {key: value for key, value in values.items() if value is not None}


def _parse_w_s(value: str) -> int | None:
    if value == "all":
        return None
    try:
        w_s = int(value)
    except ValueError:
        raise SettingsError(f"w_s {value!r} is not a number of paragraphs; write e.g. 5000, or all") from None
    if w_s < 1:
        raise SettingsError(f"w_s must be at least 1, got {w_s}")
    return w_s


_CHECKED_TASKS: set[str] = set()  # the task settings whose files this process has read


def check_task_files(task) -> None:
    """Read the user's task files (--task_data) once per process while planning: a file every run would refuse (one
    label, a label without a training example, no text) stops the experiment before its first run starts."""
    key = json.dumps(asdict(task), sort_keys=True)
    if task.task_data and key not in _CHECKED_TASKS:
        task.load()
        _CHECKED_TASKS.add(key)


def plan_experiment(exp: ExperimentSettings, corpus, task, model, tokenizer, *,
                    pretrain_args: dict | None = None) -> ExperimentPlan:
    """Every run of the experiment with its complete settings, each checked against its script's settings,
    so that a mistake in any row stops the experiment before the first run starts. `pretrain_args`: settings of
    the pre-training over the experiment's own `pretrain_args` (a variant of `tlm compare`)."""
    get_recipe(exp.recipe)
    check_parsed((exp, corpus, task, model, tokenizer))  # ranges, also when called from Python
    model.check()  # preset, config_overrides field names, max_length within the model's positions
    if not task.resolve_name():  # --task, else the task file's name
        raise SettingsError("an experiment needs a task; give --task_data FILE or --task (in the config or on the command line)")
    check_task_files(task)
    if exp.output_dir is None:
        raise SettingsError("an experiment needs an output folder; pass --output_dir")
    if not exp.seeds:
        raise SettingsError("no seeds; give at least one with --seeds")
    out = Path(exp.output_dir)
    pretrain_extra = {**parse_key_values(exp.pretrain_args, setting="pretrain_args", typed=True), **(pretrain_args or {})}
    finetune_extra = parse_key_values(exp.finetune_args, setting="finetune_args", typed=True)
    # later settings win: an experiment's pretrain_args / finetune_args override its own values
    # how the model runs (attention, speed switches) acts in every run (the fine-tunes take their architecture from
    # a folder)
    common = {"recipe": exp.recipe, **asdict(task), **_set_only(
        per_device_train_batch_size=exp.batch_size, attn_implementation=model.attn_implementation,
        unpad_tokens=model.unpad_tokens, fast_dropout=model.fast_dropout)}
    finetuning = {**_set_only(num_train_epochs=exp.finetune_epochs), **finetune_extra}
    if exp.learning_rates:  # both arms choose among the same learning rates on the validation split (which
        finetuning["learning_rates"] = list(exp.learning_rates)  # check_parsed made sure of, above)
    # A vocabulary trained on each W_s (or a tokenizer given to the pre-training alone) makes each row's model its
    # own: its scratch arm is then the same architecture and tokenizer as the row's pre-trained model, one per row
    # instead of one for all rows.
    scratch_per_row = (bool({**get_recipe(exp.recipe).pretraining, **pretrain_extra}.get("wordpiece_vocab_size"))
                       or "tokenizer" in pretrain_extra)

    def planned(stage, settings, *, folder, label, key_extra=None):
        """One checked run of `stage` (pretraining or finetuning) in OUTPUT/`folder` (its `{key}` filled in)."""
        types, done_file = {
            "pretraining": (PRETRAIN_SETTINGS, "pretraining_stats.json"),
            "finetuning": (FINETUNE_SETTINGS, "results.json"),
        }[stage]
        where = f"{label} (pretrain_args / finetune_args and the experiment's settings)"
        check_settings(types, settings, where)  # names and ranges
        check_together(settings, where)
        key = cache_key(stage, {**settings, **(key_extra or {})})
        return PlannedRun(stage, settings, out / folder.format(key=key), label, done_file)

    def scratch_run(seed, pretraining=None):
        settings = {"scratch": True, **common, "seed": seed, **_set_only(
            learning_rate=exp.scratch_learning_rate, weight_decay=exp.scratch_weight_decay), **finetuning}
        if pretraining is None:  # the preset's architecture, with the experiment's tokenizer
            settings = {**asdict(model), **asdict(tokenizer), **settings}
            return planned("finetuning", settings, folder=f"finetune/scratch-seed{seed}-{{key}}",
                           label=f"scratch, seed {seed}")
        # the architecture and tokenizer of the row's pre-trained folder, keyed by its key, not its path
        return planned("finetuning", {"pretrained": str(pretraining.run_dir), **settings, "max_length": model.max_length},
                       folder=f"finetune/scratch-{pretraining.run_dir.name}-seed{seed}-{{key}}",
                       label=f"scratch ({pretraining.label}), seed {seed}",
                       key_extra={"pretrained": pretraining.run_dir.name})

    # the scratch arm does not depend on W_s: one run per seed serves every row
    shared_scratch = [] if scratch_per_row else [scratch_run(seed) for seed in exp.seeds]
    def finetunes_of(pre, name, row, what):
        """One fine-tune of the pre-training `pre` per seed (tokenizer and architecture come from its folder)."""
        runs = []
        for seed in exp.seeds:
            settings = {**common, "max_length": model.max_length, "seed": seed, **_set_only(
                learning_rate=row["learning_rate"], weight_decay=row["weight_decay"]), **finetuning}
            runs.append(planned(
                "finetuning", {"pretrained": str(pre.run_dir), **settings},
                folder=f"finetune/pretrained-{name}-seed{seed}-{{key}}",
                label=f"fine-tuning {what}, seed {seed}", key_extra={"pretrained": pre.run_dir.name},
            ))
        return runs

    rows = []
    for row in broadcast_rows(exp):
        if row["subset"] not in SUBSET_KINDS:
            raise SettingsError(f"unknown subset {row['subset']!r}; use one of {', '.join(SUBSET_KINDS)}")
        for pretrain_seed in exp.pretrain_seeds or [None]:
            # a pre-training seed sets both the training seed and the subset seed: another draw of W_s paragraphs
            replicate = {} if pretrain_seed is None else {"subset_seed": pretrain_seed, "seed": pretrain_seed}
            name = f"{row['subset']}-ws{row['w_s']}" + ("" if pretrain_seed is None else f"-pt{pretrain_seed}")
            what = f"W_s={row['w_s']} ({row['subset']}" + ("" if pretrain_seed is None else
                                                           f", pre-training seed {pretrain_seed}") + ")"
            pretrain = {
                "subset": row["subset"], "w_s": _parse_w_s(row["w_s"]), "subset_seed": exp.subset_seed,
                "avoid_fraction": exp.avoid_fraction, **asdict(corpus), **asdict(model), **asdict(tokenizer), **common,
                **_set_only(num_train_epochs=exp.pretrain_epochs, learning_rate=exp.pretrain_learning_rate,
                         weight_decay=exp.pretrain_weight_decay), **pretrain_extra, **replicate,
            }
            pre_label = f"pre-training {row['subset']} W_s={row['w_s']}" + (
                "" if pretrain_seed is None else f", pre-training seed {pretrain_seed}")
            pre = planned("pretraining", pretrain, folder=f"pretrain/{name}-{{key}}", label=pre_label)
            scratch = [scratch_run(seed, pre) for seed in exp.seeds] if scratch_per_row else shared_scratch
            planned_row = PlannedRow(row["subset"], pre, finetunes_of(pre, name, row, what), scratch, pretrain_seed)
            if exp.shuffled_control:
                shuffled = planned("pretraining", {**pretrain, "word_order": "shuffled"},
                                   folder=f"pretrain/{name}-shuffled-{{key}}", label=f"{pre_label}, words shuffled")
                planned_row.shuffled = shuffled
                planned_row.shuffled_finetunes = finetunes_of(shuffled, f"{name}-shuffled", row,
                                                              f"{what}, words shuffled")
            rows.append(planned_row)
    return ExperimentPlan(rows)


def _mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single seed)."""
    return statistics.fmean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def table_row(subset: str, stats: dict, pretrained: list[dict], scratch: list[dict]) -> dict:
    """One row from the subset's pretraining_stats.json and the fine-tunes' results.json of both arms.

    Accuracies are the final-epoch test accuracy, as the paper reports (never the best epoch's, which would be
    picked on the test split).
    """
    pre_mean, pre_std = _mean_std([r["accuracy_final"] for r in pretrained])
    scratch_mean, scratch_std = _mean_std([r["accuracy_final"] for r in scratch])
    return {
        "subset": subset, "W_s": stats["W_s"], "T_W": stats["T_W"], "T_C": stats.get("T_C"),
        "T_M": stats.get("T_M"), **{name: stats.get(name) for name in HELDOUT_FIELDS}, "acc_pretrained_mean": pre_mean, "acc_pretrained_std": pre_std,
        "acc_scratch_mean": scratch_mean, "acc_scratch_std": scratch_std, "gap": pre_mean - scratch_mean,
        "seeds": sorted(r["seed"] for r in pretrained),
    }


def _num(value) -> str:
    return "-" if value is None else f"{value:,}"


def _fixed(value, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _mean_and_spread(row: dict, arm: str) -> str:
    """'0.855 ± 0.003' over seeds; one seed has no spread to show: '0.855 (n=1)'."""
    if len(row.get("seeds") or ()) == 1:
        return f"{row[arm + '_mean']:.3f} (n=1)"
    return f"{row[arm + '_mean']:.3f} ± {row[arm + '_std']:.3f}"


def count_of(n: int, noun: str) -> str:
    """'1 seed', '3 seeds': for titles."""
    return f"{n} {noun}{'' if n == 1 else 's'}"


TABLE_COLUMNS = {
    "subset": lambda r: r["subset"],
    "W_s": lambda r: _num(r["W_s"]),
    "T_W": lambda r: _num(r["T_W"]),
    "T_M": lambda r: _num(r["T_M"]),
    "MLM loss (held-out)": lambda r: _fixed(r.get("heldout_mlm_loss")),
    "unigram loss": lambda r: _fixed(r.get("unigram_loss")),
    "context gain": lambda r: _fixed(r.get("context_gain"), "+.2f"),
    "BLiMP": lambda r: _fixed(r.get("blimp_overall"), ".3f"),
    "Acc. pre-trained": lambda r: _mean_and_spread(r, "acc_pretrained"),
    "Acc. scratch": lambda r: _mean_and_spread(r, "acc_scratch"),
    "Gap": lambda r: f"{r['gap']:+.3f}",
}


def experiment_table(rows: list[dict], title: str = "") -> str:
    """The paper's table shape: W_s, T_W, T_M, accuracy mean ± std of both arms, gap."""
    return markdown_table(rows, _present(TABLE_COLUMNS, rows), title)


def _present(columns: dict, rows: list[dict]) -> dict:
    """`columns` without BLiMP when no row's pre-training measured it (blimp_pairs_per_paradigm was 0)."""
    if any(row.get("blimp_overall") is not None for row in rows):
        return columns
    return {name: cell for name, cell in columns.items() if name != "BLiMP"}


COMPARE_COLUMNS = {
    "variant": lambda r: r["variant"],
    "parameters": lambda r: _num(r.get("parameters")),
    "MLM loss (held-out)": lambda r: _fixed(r.get("heldout_mlm_loss")),
    "context gain": lambda r: _fixed(r.get("context_gain"), "+.2f"),
    "BLiMP": TABLE_COLUMNS["BLiMP"],
    "steps (s)": lambda r: f"{r['global_step']:,} ({_fixed(r.get('pretraining_s'), '.0f')} s{_timed_part(r)})",
    "Acc. pre-trained": TABLE_COLUMNS["Acc. pre-trained"],
    "Acc. scratch": TABLE_COLUMNS["Acc. scratch"],
    "Gap": TABLE_COLUMNS["Gap"],
}


def _timed_part(row: dict) -> str:
    """' for the last N' when the pre-training was resumed: its wall-clock then covers the resumed part only."""
    timed = row.get("timed_steps")
    return "" if timed is None or timed == row["global_step"] else f" for the last {timed:,}"


def compare_table(rows: list[dict], title: str = "") -> str:
    """Variants of one row (`tlm compare`): parameters, held-out MLM loss, context gain, pre-training steps
    and wall-clock, accuracy of both arms and the gap."""
    return markdown_table(rows, _present(COMPARE_COLUMNS, rows), title)


def plot_results(rows: list[dict], title: str = "") -> bytes:
    """PNG against W_s, one marker per subset kind: accuracy of both arms (mean ± std over seeds); the gap, each
    point labelled with T_W and T_M; the held-out MLM loss beside the unigram loss (their difference is the
    context gain: on the plateau the two meet)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (acc_ax, gap_ax, mlm_ax) = plt.subplots(3, 1, figsize=(6, 8), sharex=True, height_ratios=[2, 1, 1])
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
        for r in part:
            gap_ax.annotate(f"T_W {_num(r['T_W'])}\nT_M {_num(r['T_M'])}", (r["W_s"], r["gap"]), fontsize="x-small",
                            textcoords="offset points", xytext=(4, 4))
        measured = [r for r in part if r.get("heldout_mlm_loss") is not None]
        if measured:
            mlm_ax.plot([r["W_s"] for r in measured], [r["heldout_mlm_loss"] for r in measured], marker=marker,
                        color="C3", label=f"MLM ({kind})")
            mlm_ax.plot([r["W_s"] for r in measured], [r["unigram_loss"] for r in measured], marker=marker,
                        color="grey", linestyle=":", label=f"unigram ({kind})")
    gap_ax.axhline(0, color="grey", linewidth=0.8)
    gap_ax.margins(x=0.15, y=0.4)  # room for the T_W / T_M labels
    acc_ax.set_ylabel("test accuracy")
    acc_ax.legend(fontsize="small")
    # whole words per line (a long KEY=VALUE list breaks at its commas), narrow enough for the 6-inch figure
    words = [word.replace(",", ", ") if len(word) > 30 else word for word in title.split(" ")]
    wrapped = textwrap.wrap(" ".join(words), 70, break_long_words=False, break_on_hyphens=False)
    acc_ax.set_title("\n".join(wrapped), fontsize="small")
    gap_ax.set_ylabel("gap")
    mlm_ax.set_ylabel("held-out loss")
    if mlm_ax.lines:
        mlm_ax.legend(fontsize="x-small")
    mlm_ax.set_xlabel("W_s (pre-training paragraphs)")
    mlm_ax.set_xscale("log")
    fig.tight_layout()
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=120)
    plt.close(fig)
    return out.getvalue()


def write_experiment_results(rows: list[dict], out_dir, title: str = "") -> None:
    """results.json (list of rows), results.csv, results.md and results.png in out_dir."""
    write_results(out_dir, rows, fields=ROW_FIELDS, markdown=experiment_table(rows, title), png=plot_results(rows, title))


def run_experiment(exp: ExperimentSettings, corpus, task, model, tokenizer) -> list[dict] | None:
    """The whole experiment: plan (every run checked first), run what is not cached (`exp.jobs` at a time),
    tabulate; returns the table's rows (what results.json holds; None for a dry run)."""
    plan = plan_experiment(exp, corpus, task, model, tokenizer)
    outcomes = run_plan(plan.runs(), **launch_settings(exp), dry_run=exp.dry_run)
    if exp.dry_run:
        return None
    rows = [
        table_row(row.subset, outcomes[row.pretraining.run_dir], [outcomes[r.run_dir] for r in row.finetunes],
                  [outcomes[r.run_dir] for r in row.scratch])
        for row in plan.rows
    ]
    first = outcomes[plan.rows[0].scratch[0].run_dir]
    seeds = f"{len(exp.seeds)} seeds" if len(exp.seeds) > 1 else "1 seed (n=1: no spread)"
    title = (f"{task.task}: {first['train_size']:,} train / {first['test_size']:,} test, {model.preset}"
             f"{' (' + model.config_overrides + ')' if model.config_overrides else ''}, recipe {exp.recipe}, {seeds}, "
             + ("learning rate chosen on validation, test accuracy" if exp.learning_rates
                else "final-epoch test accuracy"))
    write_experiment_results(rows, exp.output_dir, title)
    print(experiment_table(rows, title))
    print(f"wrote {exp.output_dir}/results.json, results.csv, results.md, results.png")
    return rows
