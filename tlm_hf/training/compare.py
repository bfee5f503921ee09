"""Variants of one experiment row, side by side: the recipe study and the Super Tiny Language Models table.

The experiment's settings give the corpus, task, model, recipe, seeds and fine-tuning; a variants file lists what
each variant changes: `pretrain_args` (pre-training settings) and `config_overrides` (fields of the model config,
added to the experiment's), each as a mapping or as KEY=VALUE text, with `cumulative: true` when each variant adds
to the one before. Every variant pre-trains on the same W_s paragraphs for the same number of steps and is
fine-tuned like the experiment's pre-trained arm, against its own scratch twin. `compare` is the run (`tlm compare`
and train/compare.py are its command line, `tlm_hf.commands.compare`).
"""

from dataclasses import replace
from pathlib import Path

from ..arguments import read_yaml
from ..settings import (
    CompareSettings,
    ExperimentSettings,
    SettingsError,
    key_values_text,
    parse_key_values,
    refuse_unknown,
)
from .experiments import compare_table, plan_experiment, table_row
from .launch import launch_settings, run_plan
from .results import write_results

VARIANTS_FILE_KEYS = ("variants", "cumulative", "title")
VARIANT_KEYS = ("name", "pretrain_args", "config_overrides")


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


def compare(settings: CompareSettings, exp: ExperimentSettings, corpus, task, model, tokenizer) -> list[dict] | None:
    """Plan every variant (each checked before the first run), run what is not cached (variants share the runs they
    have in common), tabulate one row per variant; returns the rows (None for a dry run)."""
    # -- one W_s, and the variants, every plan checked before the first run ----------------------------------------
    if len(exp.w_s) != 1:
        raise SettingsError(f"variants are compared at one W_s; give one value (--w_s 4000), not {exp.w_s}")
    variants_file = load_variants(settings.variants)
    plans, pretrain_args, overrides = [], {}, []
    for variant in variants_file["variants"]:
        if not variants_file.get("cumulative"):  # each variant changes the experiment; cumulative: the one before
            pretrain_args, overrides = {}, []
        pretrain_args.update(variant_settings(variant, "pretrain_args", settings.variants))
        overrides += [variant_text(variant, "config_overrides", settings.variants)]
        variant_model = replace(model, config_overrides=",".join(filter(None, [model.config_overrides, *overrides])))
        plans.append((variant["name"], plan_experiment(exp, corpus, task, variant_model, tokenizer,
                                                       pretrain_args=dict(pretrain_args))))

    # -- the runs, then one row per variant -----------------------------------------------------------------------
    outcomes = run_plan([run for _, plan in plans for run in plan.runs()], **launch_settings(exp), dry_run=exp.dry_run)
    if exp.dry_run:
        return None
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
    name = Path(settings.variants).stem  # one output folder serves several variants files, sharing their runs
    write_results(exp.output_dir, rows, fields=rows[0].keys(), markdown=markdown, name=name)
    print(markdown)
    print(f"wrote {exp.output_dir}/{name}.json, {name}.csv, {name}.md")
    return rows
