"""Variants of one experiment row, side by side: the recipe study and the Super Tiny Language Models table.

    python train/compare.py --config train/configs/stlm.yaml --variants train/configs/compare/recipe.yaml \
        --output_dir runs/compare-dbpedia
    python train/compare.py --config train/configs/stlm.yaml --variants train/configs/compare/stlm.yaml \
        --output_dir runs/compare-dbpedia

The experiment config (e.g. stlm.yaml) gives the corpus, task, model, recipe, seeds and fine-tuning; the
variants file lists what each variant changes: `pretrain_args` (KEY=VALUE settings of train/pretrain.py) and
`config_overrides` (fields of the model config, added to the experiment's), with `cumulative: true` when each
variant adds to the one before. Every variant pre-trains on the same W_s paragraphs for the same number of
steps and is fine-tuned like the experiment's pre-trained arm, against its own scratch twin (same
architecture and vocabulary). Runs are cached as in train/experiment.py, under one output folder.

Writes to --output_dir: <variants file name>.json / .csv / .md (recipe.md, stlm.md), and the runs under pretrain/
and finetune/; several variants files can share one output folder, and so the runs they have in common.
"""

import shlex
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from tlm_hf.arguments import parse_settings, read_yaml
from tlm_hf.settings import EXPERIMENT_SETTINGS, SettingsError, check_settings
from tlm_hf.training.experiments import compare_table, plan_experiment, run_planned, table_row
from tlm_hf.training.results import write_results

SCRIPTS = Path(__file__).resolve().parent  # pretrain.py and finetune.py


@dataclass
class CompareSettings:
    variants: str | None = None  # YAML file: `variants:` a list of {name, pretrain_args, config_overrides}


def key_values(settings: dict) -> str:
    return ",".join(f"{key}={'null' if value is None else value}" for key, value in settings.items())


# -- settings: the experiment's, one W_s, and the variants, every plan checked before the first run ---------------
try:
    compare, exp, corpus, task, model, tokenizer = parse_settings((CompareSettings, *EXPERIMENT_SETTINGS),
                                                                  required=("output_dir", "variants"))
    if len(exp.w_s) != 1:
        raise SettingsError(f"variants are compared at one W_s; give one value (--w_s 4000), not {exp.w_s}")
    spec = read_yaml(compare.variants)
    plans, pretrain_args, overrides = [], {}, []
    for variant in spec.get("variants") or []:
        check_settings((), {k: v for k, v in variant.items() if k not in ("name", "pretrain_args", "config_overrides")},
                       f"{compare.variants}: variant {variant.get('name')!r}")
        if not spec.get("cumulative"):
            pretrain_args, overrides = {}, []
        pretrain_args.update(variant.get("pretrain_args") or {})
        overrides += [variant["config_overrides"]] if variant.get("config_overrides") else []
        variant_exp = replace(exp, pretrain_args=",".join(filter(None, [exp.pretrain_args, key_values(pretrain_args)])))
        variant_model = replace(model, config_overrides=",".join(filter(None, [model.config_overrides, *overrides])))
        plans.append((variant["name"], plan_experiment(variant_exp, corpus, task, variant_model, tokenizer)))
    if not plans:
        raise SettingsError(f"{compare.variants} lists no variants; give `variants:` a list of {{name, ...}}")
except SettingsError as err:
    sys.exit(f"compare.py: error: {err}")
launcher = [sys.executable] if exp.launcher == "python" else shlex.split(exp.launcher)

# -- the runs, then one row per variant -----------------------------------------------------------------------------
rows, outcomes = [], {}
try:
    for name, plan in plans:
        for run in plan.runs():  # each run once: variants share the runs they have in common
            if run.run_dir not in outcomes:
                outcomes[run.run_dir] = run_planned(run, scripts=SCRIPTS, launcher=launcher, dry_run=exp.dry_run)
        if not exp.dry_run:
            (row,) = plan.rows
            stats = outcomes[row.pretraining.run_dir]
            rows.append({"variant": name, **table_row(row.subset, stats, [outcomes[r.run_dir] for r in row.finetunes],
                                                      [outcomes[r.run_dir] for r in row.scratch]),
                         "parameters": stats.get("parameters"), "global_step": stats["global_step"],
                         "pretraining_s": stats.get("train_runtime_s"), "timed_steps": stats.get("timed_steps")})
except SettingsError as err:
    sys.exit(f"compare.py: error: {err}")
if exp.dry_run:
    sys.exit(0)

title = (f"{task.task}, W_s = {rows[0]['W_s']:,}, {model.preset} ({model.config_overrides}), recipe {exp.recipe}, "
         f"{len(exp.seeds)} seeds; {spec.get('title', '')}")
markdown = compare_table(rows, title)
name = Path(compare.variants).stem  # one output folder serves several variants files, sharing their runs
write_results(exp.output_dir, rows, fields=rows[0].keys(), markdown=markdown, name=name)
print(markdown)
print(f"wrote {exp.output_dir}/{name}.json, {name}.csv, {name}.md")
