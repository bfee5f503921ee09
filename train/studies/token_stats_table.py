"""The token statistics table of docs/data.md: T_W and T_M of random W_s subsets against AG News, DBpedia and FewRel.

Runs on the shared data (../shared/data): WikiText-2 train paragraphs as the corpus, the
bert-base-uncased tokenizer, and each task at the paper's sizes (AG News 1,000 / 1,000 per
label, DBpedia 100 / 100 per label, FewRel 10 relations drawn by seed, 630 / 70). Prints Markdown.

    python train/studies/token_stats_table.py --w-s 2000 5000 10000
"""

import argparse
from pathlib import Path

import datasets

from tlm_hf.data.corpus import load_paragraphs, random_subset
from tlm_hf.data.tasks import load_task
from tlm_hf.data.token_stats import count_tokens, coverage_stats, tokenize
from tlm_hf.data.tokenizer import load_tokenizer

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--shared-data", type=Path, default=SHARED, help="the mirrored data folder")
parser.add_argument("--w-s", type=int, nargs="+", default=[2000, 5000, 10000], help="subset sizes")
parser.add_argument("--seed", type=int, default=42)
parser.add_argument("--min-count", type=int, default=10, help="k of coverage_k")
args = parser.parse_args()

datasets.disable_progress_bars()
d = args.shared_data
tokenizer = load_tokenizer(str(d / "bert-base-uncased"))
paragraphs = load_paragraphs(
    str(d / "wikitext2/paragraphs.jsonl.gz"), where={"split": "train"}, normalize_wikitext=True
)
tasks = {
    "AG News": load_task("ag_news", data_files={"train": str(d / "ag_news/train_partial.jsonl.gz"),
                                                "test": str(d / "ag_news/test.jsonl.gz")}, seed=args.seed),
    "DBpedia": load_task("dbpedia_14", data_files=str(d / "dbpedia_14/dhim_subset_10k.jsonl.gz"), seed=args.seed),
    "FewRel": load_task("few_rel", data_files=str(d / "fewrel/val_wiki.json.gz"), relations=10, seed=args.seed),
}
task_counts = {name: count_tokens(tokenize(task, tokenizer), tokenizer) for name, task in tasks.items()}

header = " | ".join(
    f"T_M {name} (T_C {int((c > 0).sum()):,}) | cov_{args.min_count} {name}" for name, c in task_counts.items()
)
print(f"| W_s | T_W | {header} |")
print("|" + " --- |" * (2 + 2 * len(tasks)))
for w_s in args.w_s:
    subset_counts = count_tokens(tokenize(random_subset(paragraphs, w_s, args.seed), tokenizer), tokenizer)
    cells = []
    for counts in task_counts.values():
        stats = coverage_stats(subset_counts, counts, w_s=w_s, min_count=args.min_count)
        cells += [f"{stats['T_M']:,}", f"{stats['coverage_k']:.3f}"]
    print(f"| {w_s:,} | {stats['T_W']:,} | " + " | ".join(cells) + " |")
print(f"\nFewRel relations: {', '.join(tasks['FewRel']['train'].features['label'].names)}")
