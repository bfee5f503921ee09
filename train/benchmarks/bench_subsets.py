"""Benchmark: paragraphs per second for tokenising and for filtering tokenised paragraphs.

Filtering is the step the custom and avoid subsets repeat over the whole corpus: every
paragraph's token ids are looked up in a boolean table over the vocabulary. The corpus is the
shared WikiText paragraphs repeated --repeat times; the task (for the custom filter) is the
shared AG News at the paper's 1,000 / 1,000 per label.

    python train/benchmarks/bench_subsets.py --repeat 10 --num-proc 1 2
"""

import argparse
import time
from pathlib import Path

import datasets

from tlm_hf.data.corpus import load_paragraphs
from tlm_hf.data.subsets import filter_paragraphs
from tlm_hf.data.tasks import load_task
from tlm_hf.data.token_stats import count_tokens, tokenize
from tlm_hf.data.tokenizer import load_tokenizer

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--shared-data", type=Path, default=SHARED, help="the mirrored data folder")
parser.add_argument("--repeat", type=int, default=10, help="repeat the 19,427 paragraphs this many times")
parser.add_argument("--num-proc", type=int, nargs="+", default=[1, 2], help="worker counts to time")
args = parser.parse_args()

datasets.disable_caching()  # time the work, not a cache hit from an earlier run
datasets.disable_progress_bars()
tokenizer = load_tokenizer(str(args.shared_data / "bert-base-uncased"))
paragraphs = load_paragraphs(str(args.shared_data / "wikitext2/paragraphs.jsonl.gz"), normalize_wikitext=True)
corpus = datasets.concatenate_datasets([paragraphs] * args.repeat)
task = load_task("ag_news", data_files={
    "train": str(args.shared_data / "ag_news/train_partial.jsonl.gz"),
    "test": str(args.shared_data / "ag_news/test.jsonl.gz"),
})
allowed = count_tokens(tokenize(task, tokenizer), tokenizer) > 0
allowed[tokenizer.all_special_ids] = True

print(f"{len(corpus):,} paragraphs; custom filter keeps paragraphs made of the {int(allowed.sum()):,} AG News tokens")
print("| workers | tokenising (paragraphs/s) | filtering tokenised (paragraphs/s) | kept |")
print("| --- | --- | --- | --- |")
for num_proc in args.num_proc:
    start = time.perf_counter()
    tokenised = tokenize(corpus, tokenizer, num_proc=num_proc)
    tokenise_s = time.perf_counter() - start
    start = time.perf_counter()
    kept = filter_paragraphs(tokenised, allowed, num_proc=num_proc)
    filter_s = time.perf_counter() - start
    print(f"| {num_proc} | {len(corpus) / tokenise_s:,.0f} | {len(corpus) / filter_s:,.0f} | {len(kept):,} |")
