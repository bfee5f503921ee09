"""The `tlm` command line. The only module of the package that parses arguments.

Each subcommand is one `_add_<name>` function that declares its flags and one `_run_<name>`
function that calls the library; `main` wires them together.
"""

import argparse
import sys


class UserError(Exception):
    """A mistake in the user's input: printed as one line, no traceback."""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tlm", description="Tiny Language Models toolkit.")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in _SUBCOMMANDS:
        add(sub)
    return parser


# --- convert-reference -------------------------------------------------------------------------


def _add_convert_reference(sub):
    p = sub.add_parser(
        "convert-reference",
        help="Convert a checkpoint made by the paper's own code into a ConvBert folder.",
    )
    p.add_argument("src", help="folder with the paper code's config.json and weights")
    p.add_argument("dst", help="output folder (loads with AutoModel... and trust_remote_code=True)")
    p.set_defaults(run=_run_convert_reference)


def _run_convert_reference(args):
    from .convert_reference import convert_reference_checkpoint

    model = convert_reference_checkpoint(args.src, args.dst)
    print(f"wrote {type(model).__name__} to {args.dst}")


# --- stats / subset: the corpus, task and tokenizer flags they share ---------------------------


def _add_data_args(p):
    corpus = p.add_argument_group("pre-training corpus")
    corpus.add_argument(
        "--corpus", default="wikimedia/wikipedia",
        help="Hub dataset id, or local file/glob (txt, jsonl, json, parquet, csv, optionally .gz)",
    )
    corpus.add_argument("--corpus-config", help="Hub config (default 20231101.en for wikimedia/wikipedia)")
    corpus.add_argument("--corpus-split", default="train", help="Hub split (default train)")
    corpus.add_argument("--text-field", default="text", help="column with the articles or paragraphs")
    corpus.add_argument(
        "--where", action="append", default=[], metavar="COLUMN=VALUE",
        help="keep rows whose COLUMN equals VALUE, repeatable (split=train for the shared WikiText file)",
    )
    corpus.add_argument(
        "--normalize-wikitext", action="store_true", help="undo WikiText's ' @-@ ' joiners and <unk>"
    )
    corpus.add_argument("--min-chars", type=int, default=1, help="drop paragraphs shorter than this")
    task = p.add_argument_group("classification task")
    task.add_argument(
        "--task", required=True,
        help="ag_news, dbpedia_14, few_rel, or any Hub id with --text-column and --label-column",
    )
    task.add_argument(
        "--task-data", metavar="train=FILE,test=FILE",
        help="local files instead of the Hub; a single FILE is split per label by seed",
    )
    task.add_argument("--train-per-label", type=int, help="default: the paper's for known tasks")
    task.add_argument("--test-per-label", type=int, help="default: the paper's for known tasks")
    task.add_argument("--text-column", help="text column of a task that is not in the registry")
    task.add_argument("--label-column", help="label column of a task that is not in the registry")
    task.add_argument("--relations", help="few_rel: comma-separated relation ids, or a count drawn by seed")
    task.add_argument("--entity-markers", action="store_true", help="few_rel: mark head and tail entities")
    p.add_argument("--tokenizer", default="bert-base-uncased", help="tokenizer folder or Hub id")
    p.add_argument("--seed", type=int, default=42, help="seed of every random choice (default 42)")
    p.add_argument("--min-count", type=int, default=10, help="k of T_M_k and coverage_k (default 10)")
    p.add_argument("--num-proc", type=int, help="worker processes for tokenising and filtering")


def _key_values(text: str, flag: str) -> dict[str, str]:
    pairs = [item.split("=", 1) for item in text.split(",")]
    if any(len(pair) != 2 for pair in pairs):
        raise UserError(f"{flag} expects KEY=VALUE[,KEY=VALUE], got {text!r}")
    return dict(pairs)


def _load_corpus(args):
    from .corpus import load_paragraphs

    where = {}
    for item in args.where:
        where.update(_key_values(item, "--where"))
    return load_paragraphs(
        args.corpus, config=args.corpus_config, split=args.corpus_split, text_field=args.text_field,
        normalize_wikitext=args.normalize_wikitext, min_chars=args.min_chars, where=where or None,
        num_proc=args.num_proc,
    )


def _load_task(args):
    from .tasks import load_task

    data_files = args.task_data
    if data_files and "=" in data_files:
        data_files = _key_values(data_files, "--task-data")
    relations = args.relations
    if relations:
        relations = int(relations) if relations.isdigit() else relations.split(",")
    return load_task(
        args.task, data_files=data_files, train_per_label=args.train_per_label,
        test_per_label=args.test_per_label, seed=args.seed, text_column=args.text_column,
        label_column=args.label_column, relations=relations, entity_markers=args.entity_markers,
    )


# --- stats -------------------------------------------------------------------------------------


def _add_stats(sub):
    p = sub.add_parser(
        "stats", help="Token statistics (W_s, T_W, T_C, T_M, weighted coverage) of a random subset vs a task."
    )
    p.add_argument("--w-s", type=int, help="random subset of W_s paragraphs (default: the whole corpus)")
    _add_data_args(p)
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(run=_run_stats)


def _run_stats(args):
    import json

    from .corpus import random_subset
    from .token_stats import STAT_DESCRIPTIONS, load_tokenizer, token_stats

    paragraphs = _load_corpus(args)
    subset = paragraphs if args.w_s is None else random_subset(paragraphs, args.w_s, args.seed)
    stats = token_stats(
        subset, _load_task(args), load_tokenizer(args.tokenizer), min_count=args.min_count, num_proc=args.num_proc
    )
    if args.json:
        print(json.dumps(stats, indent=2))
        return
    for key, value in stats.items():
        shown = f"{value:.4f}" if isinstance(value, float) else f"{value:,}"
        print(f"{key:<10} {shown:>12}  {STAT_DESCRIPTIONS[key]}")


# --- subset ------------------------------------------------------------------------------------


def _add_subset(sub):
    p = sub.add_parser(
        "subset",
        help="Write a pre-training subset (random, custom = only task tokens, avoid = raised T_M) and its stats.",
    )
    p.add_argument("kind", choices=["random", "custom", "avoid"], help="how the paragraphs are chosen")
    p.add_argument("--out", required=True, help="output folder (replaced in one step); holds stats.json too")
    p.add_argument("--w-s", type=int, help="paragraphs to keep (required for random; custom/avoid: default all)")
    p.add_argument("--avoid-fraction", type=float, default=0.5, help="avoid: share of T_C to avoid (default 0.5)")
    p.add_argument("--format", choices=["datasets", "jsonl"], default="datasets", help="datasets folder or jsonl")
    _add_data_args(p)
    p.set_defaults(run=_run_subset)


def _run_subset(args):
    from .subsets import build_subset, save_subset
    from .token_stats import load_tokenizer, token_stats

    tokenizer = load_tokenizer(args.tokenizer)
    task = _load_task(args)
    subset = build_subset(
        args.kind, _load_corpus(args), task, tokenizer, w_s=args.w_s, seed=args.seed,
        avoid_fraction=args.avoid_fraction, num_proc=args.num_proc,
    )
    stats = token_stats(subset, task, tokenizer, min_count=args.min_count, num_proc=args.num_proc)
    settings = {
        "kind": args.kind, "seed": args.seed, "corpus": args.corpus, "where": args.where, "task": args.task,
        "tokenizer": args.tokenizer, **({"avoid_fraction": args.avoid_fraction} if args.kind == "avoid" else {}),
    }
    save_subset(subset, args.out, {**settings, **stats}, fmt=args.format)
    print(
        f"wrote {stats['W_s']:,} paragraphs to {args.out} "
        f"(T_W {stats['T_W']:,}, T_M {stats['T_M']:,} of T_C {stats['T_C']:,})"
    )


# --- publish -----------------------------------------------------------------------------------


def _add_publish(sub):
    p = sub.add_parser(
        "publish",
        help="Export a run folder for the Hub with its model card, prove it loads without tlm_hf, and upload it.",
    )
    p.add_argument("run_dir", help="output folder of train/pretrain.py, train/finetune.py or train/committee.py")
    p.add_argument("--repo-id", required=True, help="Hub repository, ORG/NAME")
    p.add_argument("--private", action="store_true", help="create the repository as private")
    p.add_argument("--revision", help="branch to upload to (created if missing)")
    p.add_argument("--dry-run", action="store_true", help="export and verify, but make no network call")
    p.add_argument("--export-dir", help="where to assemble the Hub folder (default RUN_DIR/hub_export)")
    p.add_argument("--scratch-run", help="for a classifier: its from-scratch twin, to report the gap on the card")
    p.set_defaults(run=_run_publish)


def _run_publish(args):
    from .publish import PublishError, publish

    try:
        report = publish(
            args.run_dir, args.repo_id, export_dir=args.export_dir, private=args.private, revision=args.revision,
            dry_run=args.dry_run, scratch_run=args.scratch_run,
        )
    except PublishError as err:
        raise UserError(str(err)) from err
    print(f"exported to {report['export_dir']}:")
    for name, size in report["files"]:
        print(f"  {name:<40} {size:>14,} bytes")
    print(f"verified without tlm_hf: {report['verified']['class']}, logits {report['verified']['logits_shape']}")
    if args.dry_run:
        print(f"dry run: nothing uploaded; would upload these files to {args.repo_id}")
    else:
        print(f"uploaded: {report['url']}")


_SUBCOMMANDS = [_add_convert_reference, _add_stats, _add_subset, _add_publish]


def main(argv=None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        args.run(args)
    except (UserError, FileNotFoundError, ValueError) as err:
        print(f"tlm {args.command}: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
