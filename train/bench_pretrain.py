"""Pre-training throughput: our path against a baseline that mirrors the paper's loop, in the same run.

    python train/bench_pretrain.py --preset bert-6 --device cpu --steps 4
    python train/bench_pretrain.py --preset bert-1-h24 --device cuda --steps 50

Both paths train on the same WikiText paragraphs (real lengths, truncated at 128) with the paper's masking
and batch size, and report real (non-padding) tokens per second and peak memory.
- baseline, as the paper's code: transformers' BertForMaskedLM of the same size, every batch padded to 128,
  logits for every position, AdamW; fp32 on CPU, fp16 autocast on GPU.
- ours: ConvBertForMaskedLM with SDPA and sparse prediction (vocabulary logits for masked positions only),
  batches padded to their longest row after grouping by length, fused AdamW; bf16 autocast where the
  hardware runs it natively (GPUs with bf16, CPUs with AMX), as the training scripts do by default.
Each path runs in its own process, so its peak memory (GPU allocations, or process RSS on CPU) is its own.
Ends with one line `speedup: X.XX` (our tokens/s over the baseline's).
"""

import argparse
import multiprocessing
import resource
import time
from pathlib import Path

import torch
from transformers import BertConfig, BertForMaskedLM, DataCollatorForLanguageModeling
from transformers.trainer_pt_utils import LengthGroupedSampler

from tlm_hf import PRESETS, ConvBertForMaskedLM
from tlm_hf.data.corpus import load_paragraphs
from tlm_hf.training.mlm import mlm_collator, tokenize_paragraphs
from tlm_hf.data.tokenizer import load_tokenizer
from tlm_hf.settings import ModelSettings
from tlm_hf.training.recipes import bf16_available

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def batches(path: str, tokenizer, rows, batch_size: int, steps: int):
    """The same `steps * batch_size` paragraphs for both paths, batched each path's way."""
    rows = rows[: steps * batch_size]
    if path == "baseline":  # random order, every batch padded to 128 as the paper's code does
        collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, pad_to_multiple_of=128)
        order = torch.randperm(len(rows)).tolist()
    else:  # grouped by length (Trainer's train_sampling_strategy="group_by_length"), padded per batch
        collate = mlm_collator(tokenizer)
        order = list(LengthGroupedSampler(batch_size, lengths=[len(r["input_ids"]) for r in rows]))
    return [collate([rows[i] for i in order[start : start + batch_size]]) for start in range(0, len(order), batch_size)]


def build(path: str, preset: str, tokenizer):
    config = ModelSettings(preset=preset).config(tokenizer)
    if path == "ours":
        return ConvBertForMaskedLM(config)
    # the paper's BERT: same sizes, no convolutional front end (a CL block has no BertConfig equivalent)
    return BertForMaskedLM(BertConfig(
        vocab_size=config.vocab_size, hidden_size=config.hidden_size, num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads, intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_position_embeddings, pad_token_id=config.pad_token_id,
    ))


def measure(path: str, preset: str, device: str, steps: int, warmup: int, batch_size: int, rows, tokenizer) -> dict:
    """Train `warmup + steps` steps, time the last `steps`; real tokens/s and peak memory."""
    torch.manual_seed(0)
    model = build(path, preset, tokenizer).to(device).train()
    cuda = device == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=5.5e-5, weight_decay=1e-2, fused=(path == "ours") or None)
    if path == "ours":  # bf16 where the hardware runs it natively, as the training scripts do by default
        dtype = torch.bfloat16 if bf16_available() else None
    else:
        dtype = torch.float16 if cuda else None
    scaler = torch.amp.GradScaler(enabled=cuda and dtype == torch.float16)
    data = batches(path, tokenizer, rows, batch_size, warmup + steps)
    tokens, start = 0, None
    for step, batch in enumerate(data):
        if step == warmup:
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = model(**batch).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            tokens += int(batch["attention_mask"].sum())
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"tokens_per_s": tokens / seconds, "peak_gib": peak / 2**30, "seconds": seconds}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="bert-6", choices=list(PRESETS))
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--steps", type=int, default=4, help="timed steps per path")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--shared-data", type=Path, default=SHARED, help="WikiText paragraphs and bert-base-uncased")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but no GPU is visible; use --device cpu")
    if not (args.shared_data / "wikitext2").is_dir():
        parser.error(f"no WikiText paragraphs under {args.shared_data}; pass --shared-data")

    tokenizer = load_tokenizer(str(args.shared_data / "bert-base-uncased"))
    paragraphs = load_paragraphs(str(args.shared_data / "wikitext2/paragraphs.jsonl.gz"), where={"split": "train"},
                                 normalize_wikitext=True).shuffle(seed=0)
    needed = (args.steps + args.warmup) * args.batch_size
    rows = list(tokenize_paragraphs(paragraphs.select(range(needed)), tokenizer))

    print(f"{args.preset} on {args.device}, batch {args.batch_size}, {args.steps} timed steps "
          f"(+{args.warmup} warm-up), {needed} WikiText paragraphs, mean length "
          f"{sum(len(r['input_ids']) for r in rows) / len(rows):.1f} tokens")
    results = {}
    context = multiprocessing.get_context("spawn")  # a fresh process per path: its own peak memory
    for path in ("baseline", "ours"):
        with context.Pool(1) as pool:
            results[path] = pool.apply(measure, (path, args.preset, args.device, args.steps, args.warmup,
                                                 args.batch_size, rows, tokenizer))
        r = results[path]
        print(f"{path:>8}: {r['tokens_per_s']:10,.0f} real tokens/s   peak memory {r['peak_gib']:.2f} GiB   "
              f"({r['seconds']:.1f} s)")
    print(f"speedup: {results['ours']['tokens_per_s'] / results['baseline']['tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()
