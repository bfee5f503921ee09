"""Time BLiMP scoring for the quick matrix's model: wall-clock and CPU seconds, masked copies and tokens.

    python train/benchmarks/bench_blimp.py --data path/to/blimp.jsonl.gz --pairs_per_paradigm 10 --batch_size 16

The model has the quick matrix's shape (2 blocks of hidden 128, 2 heads, FFN 512) and random weights, with a
4,096-token WordPiece vocabulary trained on 5,000 WikiText-2 paragraphs of the bundled sample: scoring costs the
same whatever the weights. Prints the copies and tokens of all the pairs in --data and of the part scored, so the
time of the whole set can be worked out from a part.
"""

import argparse
import resource
import time

import torch

from tlm_hf import ConvBertConfig, ConvBertForMaskedLM
from tlm_hf.data.corpus import load_paragraphs
from tlm_hf.data.tokenizer import train_wordpiece
from tlm_hf.evaluation.blimp import evaluate_blimp, load_blimp, sentences_of
from tlm_hf.evaluation.pll import tokenize_sentences

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--data", default="sample:blimp")
parser.add_argument("--pairs_per_paradigm", type=int, default=None, help="default: every pair of --data")
parser.add_argument("--batch_size", type=int, default=16)
parser.add_argument("--threads", type=int, default=None)
args = parser.parse_args()
if args.threads:
    torch.set_num_threads(args.threads)

paragraphs = load_paragraphs("sample:wikitext2", where={"split": "train"}, normalize_wikitext=True)
tokenizer = train_wordpiece(paragraphs.shuffle(seed=42).select(range(5000)), 4096)
torch.manual_seed(0)
config = ConvBertConfig.from_preset(
    "bert-1-h24", vocab_size=len(tokenizer), pad_token_id=tokenizer.pad_token_id, cls_token_id=tokenizer.cls_token_id,
    sep_token_id=tokenizer.sep_token_id, mask_token_id=tokenizer.mask_token_id, hidden_size=128, num_hidden_layers=2,
    num_attention_heads=2, intermediate_size=512,
)
model = ConvBertForMaskedLM(config).eval()


def work(pairs):
    """(sentences, masked copies, tokens in all copies) of the pairs' distinct sentences."""
    lengths = [len(ids) for ids, _ in tokenize_sentences(tokenizer, sentences_of(pairs), config.max_position_embeddings)]
    return len(lengths), sum(n - 2 for n in lengths), sum((n - 2) * n for n in lengths)


def cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


everything = load_blimp(args.data)
part = load_blimp(args.data, pairs_per_paradigm=args.pairs_per_paradigm)
print(f"{model.num_parameters():,} parameters, {torch.get_num_threads()} threads")
print("all {:,} pairs: {:,} sentences, {:,} masked copies, {:,} tokens".format(len(everything), *work(everything)))
print("scored {:,} pairs: {:,} sentences, {:,} masked copies, {:,} tokens".format(len(part), *work(part)))
wall, cpu = time.perf_counter(), cpu_seconds()
result = evaluate_blimp(model, tokenizer, part, batch_size=args.batch_size)
wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
print(f"scored in {wall:.1f} s wall-clock, {cpu:.1f} CPU seconds ({args.batch_size} sentences per forward); "
      f"all pairs at this rate: {wall * len(everything) / len(part):.0f} s; BLiMP {100 * result['overall']:.1f}")
