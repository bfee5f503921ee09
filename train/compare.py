"""Variants of one experiment row, side by side: the recipe study and the Super Tiny Language Models table.

    python train/compare.py --config train/configs/stlm.yaml --variants train/configs/compare/recipe.yaml \
        --output_dir runs/compare-dbpedia
    python train/compare.py --config train/configs/stlm.yaml --variants train/configs/compare/stlm.yaml \
        --output_dir runs/compare-dbpedia --jobs 2

The experiment config (e.g. stlm.yaml) gives the corpus, task, model, recipe, seeds and fine-tuning; the
variants file lists what each variant changes: `pretrain_args` (KEY=VALUE settings of train/pretrain.py) and
`config_overrides` (fields of the model config, added to the experiment's), each a mapping ({mlm_probability: 0.3})
or KEY=VALUE text (mlm_probability=0.3) as in the experiment's file, with `cumulative: true` when each
variant adds to the one before. Every variant pre-trains on the same W_s paragraphs for the same number of
steps and is fine-tuned like the experiment's pre-trained arm, against its own scratch twin (same
architecture and vocabulary). Runs are cached as in train/experiment.py, under one output folder.

Writes to --output_dir: <variants file name>.json / .csv / .md (recipe.md, stlm.md), and the runs under pretrain/
and finetune/; several variants files can share one output folder, and so the runs they have in common.
"""

import sys
from dataclasses import dataclass, replace
from pathlib import Path

from tlm_hf.arguments import parse_settings, read_yaml
from tlm_hf.errors import UserError
from tlm_hf.settings import EXPERIMENT_SETTINGS, SettingsError, key_values_text, parse_key_values, refuse_unknown
from tlm_hf.training.experiments import compare_table, plan_experiment, table_row
from tlm_hf.training.launch import launch_settings, run_plan
from tlm_hf.training.results import write_results

VARIANTS_FILE_KEYS = ("variants", "cumulative", "title")
VARIANT_KEYS = ("name", "pretrain_args", "config_overrides")


@dataclass
class CompareSettings:
    variants: str | None = None  # YAML file: `variants:` a list of {name, pretrain_args, config_overrides}


def load_variants(path) -> dict:
    """The variants file, every key checked (a misspelled one would silently drop a variant's change)."""
    variants_file = read_yaml(path)
    refuse_unknown(variants_file, VARIANTS_FILE_KEYS, f"{path}: unknown key {{key!r}}; ",
                   f"use {', '.join(VARIANTS_FILE_KEYS)}")
    variants = variants_file.get("variants") or []
    if not variants:
        raise SettingsError(f"{path} lists no variants; give `variants:` a list of {{name, ...}}")
    for index, variant in enumerate(variants):
        if not isinstance(variant, dict) or not variant.get("name"):
            raise SettingsError(f"{path}: variant {index + 1} has no name; give each variant `name: ...`")
        refuse_unknown(variant, VARIANT_KEYS, f"{path}: variant {variant['name']!r}: unknown key {{key!r}}; ",
                       f"use {', '.join(VARIANT_KEYS)}")
    return variants_file


def variant_settings(variant: dict, key: str, path) -> dict:
    """A variant's pretrain_args or config_overrides, written as a mapping ({mlm_probability: 0.3}) or as the
    experiment's KEY=VALUE text (mlm_probability=0.3): both forms mean the same, here as in the experiment's file."""
    given = variant.get(key) or {}
    if isinstance(given, dict):
        return given
    if not isinstance(given, str):
        raise SettingsError(f"{path}: variant {variant['name']!r}: {key} is {given!r}; give KEY=VALUE[,KEY=VALUE] "
                            "text or a mapping")
    return parse_key_values(given, setting=f"{path}: variant {variant['name']!r}: {key}", typed=True)


def variant_text(variant: dict, key: str, path) -> str:
    """The same as KEY=VALUE text, kept as written when it was written so (a run's cache key follows the text)."""
    given = variant.get(key)
    return given if isinstance(given, str) else key_values_text(variant_settings(variant, key, path), setting=key)


def main(argv=None):
    """The comparison, from the command line (or `argv`); a user's mistake ends it with one line naming the fix."""
    # -- settings: the experiment's, one W_s, and the variants, every plan checked before the first run -----------
    try:
        compare, exp, corpus, task, model, tokenizer = parse_settings((CompareSettings, *EXPERIMENT_SETTINGS), argv,
                                                                      required=("output_dir", "variants"))
        if len(exp.w_s) != 1:
            raise SettingsError(f"variants are compared at one W_s; give one value (--w_s 4000), not {exp.w_s}")
        variants_file = load_variants(compare.variants)
        plans, pretrain_args, overrides = [], {}, []
        for variant in variants_file["variants"]:
            if not variants_file.get("cumulative"):  # each variant changes the experiment; cumulative: the one before
                pretrain_args, overrides = {}, []
            pretrain_args.update(variant_settings(variant, "pretrain_args", compare.variants))
            overrides += [variant_text(variant, "config_overrides", compare.variants)]
            variant_model = replace(model, config_overrides=",".join(filter(None, [model.config_overrides, *overrides])))
            plans.append((variant["name"], plan_experiment(exp, corpus, task, variant_model, tokenizer,
                                                           pretrain_args=dict(pretrain_args))))
    except UserError as err:
        sys.exit(f"compare.py: error: {err}")

    # -- the runs (variants share the runs they have in common), then one row per variant --------------------------
    try:
        outcomes = run_plan([run for _, plan in plans for run in plan.runs()], **launch_settings(exp),
                            dry_run=exp.dry_run)
    except UserError as err:
        sys.exit(f"compare.py: error: {err}")
    if exp.dry_run:
        return
    rows = []
    for name, plan in plans:
        (row,) = plan.rows
        stats = outcomes[row.pretraining.run_dir]
        rows.append({"variant": name, **table_row(row.subset, stats, [outcomes[r.run_dir] for r in row.finetunes],
                                                  [outcomes[r.run_dir] for r in row.scratch]),
                     "parameters": stats.get("parameters"), "global_step": stats["global_step"],
                     "pretraining_s": stats.get("train_runtime_s"), "timed_steps": stats.get("timed_steps")})

    title = (f"{task.task}, W_s = {rows[0]['W_s']:,}, {model.preset} ({model.config_overrides}), recipe {exp.recipe}, "
             f"{len(exp.seeds)} seed{'s' if len(exp.seeds) > 1 else ''}; {variants_file.get('title', '')}")
    markdown = compare_table(rows, title)
    name = Path(compare.variants).stem  # one output folder serves several variants files, sharing their runs
    write_results(exp.output_dir, rows, fields=rows[0].keys(), markdown=markdown, name=name)
    print(markdown)
    print(f"wrote {exp.output_dir}/{name}.json, {name}.csv, {name}.md")


if __name__ == "__main__":
    main()
