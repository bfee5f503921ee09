"""The `tlm` command line: subcommands that call the library.

The runs and experiments (pretrain, finetune, experiment, ...) are the commands of `tlm_hf.commands`, the same
as the scripts in train/. Each other subcommand is one `_add_<name>` function that declares its flags and one
`_run_<name>` function that calls the library; `main` wires them together. `stats` and `subset` take the settings of the
training scripts (`tlm_hf.settings`, parsed by `tlm_hf.arguments`), with the same names and meaning.
"""

import argparse
import sys
from pathlib import Path

from .errors import UserError


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tlm", description="Tiny Language Models toolkit.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


# --- the runs and experiments: tlm_hf.commands -------------------------------------------------------------------

COMMANDS = {  # name -> (module of tlm_hf.commands, help)
    "pretrain": ("pretrain", "MLM pre-training of a ConvBert on W_s paragraphs, with a named recipe."),
    "finetune": ("finetune", "Fine-tune a classifier from a pre-trained folder or from scratch."),
    "experiment": ("experiment", "One of the paper's tables: pre-train per W_s, fine-tune both arms over seeds."),
    "compare": ("compare", "Variants of one experiment row side by side (recipes, STLM options)."),
    "committee": ("committee", "Fine-tune a soft committee's members; evaluate each and the committee."),
    "reproduce": ("reproduce", "The paper's four claims, each with a verdict, in one report."),
}


def _add_commands(sub):
    for name, (module, help) in COMMANDS.items():
        p = sub.add_parser(name, help=help, add_help=False, prefix_chars="\0")
        p.add_argument("flags", nargs=argparse.REMAINDER, help="the settings (--help lists them)")
        p.set_defaults(run=_run_command, module=module)


def _run_command(args):
    import importlib

    importlib.import_module(f"tlm_hf.commands.{args.module}").main(args.flags, prog=f"tlm {args.command}")


# --- convert-reference -------------------------------------------------------------------------


def _add_convert_reference(sub):
    p = sub.add_parser(
        "convert-reference",
        help="Convert a checkpoint made by the paper's own code into a ConvBert folder.",
        description="Convert a model of the paper's own code into a ConvBert folder. That code saves nothing itself: "
        "call save_pretrained(FOLDER) on its model to get the folder (config.json and weights). A converted model "
        "with convolutional layers gives other outputs than the paper's code on padded inputs, where the paper's code "
        "lets padding leak into the convolution; on unpadded inputs they agree.",
    )
    p.add_argument("src", help="folder written by save_pretrained on the paper code's model (config.json, weights)")
    p.add_argument("dst", help="output folder (loads with AutoModel... and trust_remote_code=True)")
    p.set_defaults(run=_run_convert_reference)


def _run_convert_reference(args):
    from .hub.convert_reference import convert_reference_checkpoint

    model = convert_reference_checkpoint(args.src, args.dst)
    print(f"wrote {type(model).__name__} to {args.dst}")


# --- stats / subset: the settings vocabulary of the training scripts -------------------------------------


def _add_settings_command(sub, name: str, help: str, run):
    """A subcommand whose flags are the dataclasses of `tlm_hf.settings`, read by `tlm_hf.arguments`."""
    p = sub.add_parser(name, help=help, add_help=False, prefix_chars="\0")
    p.add_argument("flags", nargs=argparse.REMAINDER, help="the settings (--help lists them)")
    p.set_defaults(run=run, description=help)


def _add_stats(sub):
    _add_settings_command(
        sub, "stats", "Token statistics (W_s, T_W, T_C, T_M, weighted coverage) of a subset vs a task.", _run_stats
    )


def _run_stats(args):
    import json

    from .arguments import parse_settings
    from .data.token_stats import STAT_DESCRIPTIONS, token_stats
    from .settings import STATS_SETTINGS

    stats_settings, subset, corpus, task, tokenizer = parse_settings(STATS_SETTINGS, args.flags, prog="tlm stats",
                                                                     description=args.description)
    tokenizer = tokenizer.load()
    task_data = task.load()
    paragraphs = subset.build(corpus.load(num_proc=stats_settings.num_proc), task_data, tokenizer,
                              num_proc=stats_settings.num_proc)
    stats = token_stats(paragraphs, task_data, tokenizer, min_count=stats_settings.min_count,
                        num_proc=stats_settings.num_proc)
    if stats_settings.json:
        print(json.dumps(stats, indent=2))
        return
    for key, value in stats.items():
        shown = f"{value:.4f}" if isinstance(value, float) else f"{value:,}"
        print(f"{key:<10} {shown:>12}  {STAT_DESCRIPTIONS[key]}")


def _add_subset(sub):
    _add_settings_command(
        sub, "subset",
        "Write a pre-training subset (random, custom = only task tokens, avoid = raised T_M) and its stats.",
        _run_subset,
    )


def _run_subset(args):
    from dataclasses import asdict

    from .arguments import parse_settings
    from .data.subsets import save_subset
    from .data.token_stats import token_stats
    from .settings import SUBSET_SETTINGS, SettingsError

    out, subset, corpus, task, tokenizer_settings = parse_settings(SUBSET_SETTINGS, args.flags, prog="tlm subset",
                                                                   description=args.description)
    if out.output_dir is None:
        raise SettingsError("no output folder; pass --output_dir FOLDER")
    tokenizer = tokenizer_settings.load()
    task_data = task.load()
    paragraphs = subset.build(corpus.load(num_proc=out.num_proc), task_data, tokenizer, num_proc=out.num_proc)
    stats = token_stats(paragraphs, task_data, tokenizer, min_count=out.min_count, num_proc=out.num_proc)
    settings = {**asdict(subset), **asdict(corpus), "task": task.task, "tokenizer": tokenizer_settings.tokenizer}
    save_subset(paragraphs, out.output_dir, {**settings, **stats}, fmt=out.format)
    print(
        f"wrote {stats['W_s']:,} paragraphs to {out.output_dir} "
        f"(T_W {stats['T_W']:,}, T_M {stats['T_M']:,} of T_C {stats['T_C']:,})"
    )


# --- publish -----------------------------------------------------------------------------------


def _add_publish(sub):
    p = sub.add_parser(
        "publish",
        help="Export a run folder for the Hub with its model card, prove it loads without tlm_hf, and upload it.",
    )
    p.add_argument("run_dir", help="output folder of tlm pretrain, tlm finetune or a committee")
    p.add_argument("--repo-id", required=True, help="Hub repository, ORG/NAME")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", help="branch to upload to (created if missing)")
    p.add_argument("--dry-run", action="store_true", help="export and verify, but make no network call")
    p.add_argument("--export-dir", help="where to assemble the Hub folder (default RUN_DIR/hub_export)")
    p.add_argument("--scratch-run", help="for a classifier: its from-scratch twin, to report the gap on the card")
    p.set_defaults(run=_run_publish)


def _run_publish(args):
    from .hub.publish import publish

    report = publish(
        args.run_dir, args.repo_id, export_dir=args.export_dir, private=args.private, revision=args.revision,
        dry_run=args.dry_run, scratch_run=args.scratch_run,
    )
    print(f"exported to {report['export_dir']}:")
    for name, size in report["files"]:
        print(f"  {name:<40} {size:>14,} bytes")
    if report["left_behind"]:
        print(f"left behind (not part of a model folder): {', '.join(report['left_behind'])}")
    print(f"verified without tlm_hf: {report['verified']['class']}, logits {report['verified']['logits_shape']}")
    if args.dry_run:
        print(f"dry run: nothing uploaded; would upload these files to {args.repo_id}")
    else:
        print(f"uploaded: {report['url']}")


# --- blimp ------------------------------------------------------------------------------------------------------


def _add_blimp(sub):
    p = sub.add_parser(
        "blimp",
        help="Score a masked LM on BLiMP's grammatical minimal pairs, beside the published models.",
    )
    p.add_argument("model", help="a pre-training run's folder, a saved masked LM, or a Hub id")
    p.add_argument("--data", default="sample:blimp",
                   help="sample:blimp (bundled, 100 pairs per paradigm), a BLiMP .jsonl(.gz) file or folder, or the "
                        "Hub dataset nyu-mll/blimp (all 67,000 pairs)")
    p.add_argument("--pairs_per_paradigm", "--pairs-per-paradigm", type=int,
                   help="score only the first N pairs of each of the 67 paradigms (a quick estimate)")
    p.add_argument("--pll", choices=["word-l2r", "original"], default="word-l2r",
                   help="word-l2r (default) also masks the rest of the scored piece's word (Kauf & Ivanova 2023); "
                        "original masks one piece (Salazar et al. 2020), which over-rates multi-piece words")
    p.add_argument("--random_init", "--random-init", action="store_true",
                   help="score the same architecture with random weights (the floor a trained model is compared with)")
    p.add_argument("--seed", type=int, default=0, help="seed of --random_init's weights")
    p.add_argument("--batch_size", "--batch-size", type=int, default=16,
                   help="sentences per forward (all their masked copies at once); scores do not depend on it")
    p.add_argument("--paradigms", action="store_true", help="also list the 67 paradigms in the table")
    p.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    p.add_argument("--output", help="also write the printed result to this file")
    p.set_defaults(run=_run_blimp)


def _run_blimp(args):
    import json

    from .evaluation.blimp import (
        blimp_table,
        compare_with_floor,
        evaluate_blimp,
        load_blimp,
        load_masked_lm,
        published_scores,
        score_pairs,
        summarise,
        unigram_floor,
        verdict_line,
    )
    from .fileio import atomic_write

    pairs = load_blimp(args.data, pairs_per_paradigm=args.pairs_per_paradigm)
    model, tokenizer = load_masked_lm(args.model, random_init=args.random_init, seed=args.seed)
    result = evaluate_blimp(model, tokenizer, pairs, variant=args.pll, batch_size=args.batch_size, decisions=True)
    correct = result.pop("decisions")
    published = published_scores(pairs)
    label = f"random init (seed {args.seed})" if args.random_init else "this model"

    # -- the floors it is judged against: its random twin (unless it is one) and the unigram floor ----------------
    floors, comparisons = {}, {}
    if not args.random_init:
        twin = load_masked_lm(args.model, random_init=True, seed=args.seed)[0]
        twin_correct = score_pairs(twin, tokenizer, pairs, variant=args.pll, batch_size=args.batch_size)
        floors["random twin"] = {**_floor_summary(summarise(pairs, twin_correct)),
                                 "how": f"the same architecture, random weights of seed {args.seed}"}
        comparisons["its random twin"] = compare_with_floor(pairs, correct, twin_correct)
    unigram_correct, how = unigram_floor(args.model, tokenizer, pairs) if Path(args.model).exists() else (
        None, "a Hub model: its pre-training text is not at hand")
    floors["unigram floor"] = {**(_floor_summary(summarise(pairs, unigram_correct)) if unigram_correct else {}),
                               "how": how}
    comparisons["the unigram floor"] = (compare_with_floor(pairs, correct, unigram_correct)
                                        if unigram_correct else None)
    verdict = verdict_line(comparisons)
    floor_lines = [f"{name}: " + (f"{100 * floor['overall']:.1f} ± {100 * floor['standard_error']:.1f} "
                                  if "overall" in floor else "not measured ") + f"({floor['how']})"
                   for name, floor in floors.items()]

    if args.format == "json":
        text = json.dumps({"model": args.model, "random_init": args.random_init, "data": args.data,
                           "pairs_per_paradigm": args.pairs_per_paradigm, **result,
                           "floors": {name: {**floor, "comparison": comparison} for (name, floor), comparison
                                      in zip(floors.items(), comparisons.values())},
                           "verdict": verdict, "published": published}, indent=2) + "\n"
    else:
        markdown = args.format == "markdown"
        text = f"{args.model}\n" + blimp_table(result, published, label=label, paradigms=args.paradigms,
                                               markdown=markdown)
        separator = "\n\n" if markdown else "\n"
        text += ("\n" if markdown else "") + separator.join([*floor_lines, verdict]) + "\n"
        text += f"{result['pairs']:,} pairs scored in {result['seconds']:.1f} s\n"
    print(text, end="")
    if args.output:
        atomic_write(args.output, text)


def _floor_summary(result: dict) -> dict:
    return {"overall": result["overall"], "standard_error": result["standard_error"]}


_SUBCOMMANDS = [_add_commands, _add_convert_reference, _add_stats, _add_subset, _add_publish, _add_blimp]


def main(argv=None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        args.run(args)
    except UserError as err:  # anything else is a bug of ours: its traceback stays
        print(f"tlm {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
