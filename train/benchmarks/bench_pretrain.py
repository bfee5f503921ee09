"""Pre-training throughput and model FLOPs utilisation: our path against a baseline that mirrors the paper's loop.

    python train/benchmarks/bench_pretrain.py --preset tiny --wordpiece-vocab-size 4096 --threads 1   # the quick matrix's model
    python train/benchmarks/bench_pretrain.py --preset bert-6 --steps 4
    python train/benchmarks/bench_pretrain.py --preset bert-6 --device cuda --steps 50 --batch-size 128 --compile

All paths train on the same WikiText-2 paragraphs (the bundled sample by default; real lengths, truncated at 128)
with 15% masking and report real (non-padding) tokens per second, model FLOPs utilisation (MFU, see
tlm_hf/training/flops.py for the FLOP count and the peak) and peak memory:
- baseline, as the paper's code: transformers' BertForMaskedLM of the same size, every batch padded to 128,
  logits for every position, AdamW; fp32 on CPU, fp16 autocast on GPU;
- ours: ConvBertForMaskedLM with SDPA and sparse prediction (vocabulary logits for masked positions only),
  batches padded to their longest row after grouping by length, fused AdamW, in the precision the training
  scripts choose on this hardware (bf16 where it is native);
- with --precisions: ours in each other precision too; with --compile: ours under torch.compile as well; with
  --eager-attention: ours with transformers' eager attention instead of SDPA (on a CPU without AMX, SDPA's bf16
  backward is the slower one).
Each path runs in a process of its own (its peak memory is its own), one after another, with --threads threads.
Ends with one line `speedup: X.XX` (ours over the baseline, tokens/s).
"""

import argparse
import multiprocessing
import resource
import time

import torch
from transformers import BertConfig, BertForMaskedLM, DataCollatorForLanguageModeling
from transformers.trainer_pt_utils import LengthGroupedSampler

from tlm_hf import PRESETS, ConvBertForMaskedLM
from tlm_hf.data.corpus import load_paragraphs
from tlm_hf.data.tokenizer import load_tokenizer, train_wordpiece
from tlm_hf.fileio import append_json_line
from tlm_hf.settings import ModelSettings
from tlm_hf.training.flops import cpu_peak_flops, gpu_peak_flops, training_flops
from tlm_hf.training.mlm import mlm_collator, tokenize_paragraphs
from tlm_hf.training.recipes import bf16_available


def batches(path: str, tokenizer, rows, batch_size: int, steps: int):
    """The same `steps * batch_size` paragraphs for every path, batched each path's way."""
    rows = rows[: steps * batch_size]
    if path == "baseline":  # random order, every batch padded to 128 as the paper's code does
        collate = DataCollatorForLanguageModeling(tokenizer, mlm_probability=0.15, pad_to_multiple_of=128)
        order = torch.randperm(len(rows)).tolist()
    else:  # grouped by length (Trainer's train_sampling_strategy="group_by_length"), padded per batch
        collate = mlm_collator(tokenizer)
        order = list(LengthGroupedSampler(batch_size, lengths=[len(r["input_ids"]) for r in rows]))
    return [collate([rows[i] for i in order[start : start + batch_size]]) for start in range(0, len(order), batch_size)]


def build(path: str, config, attention: str = "sdpa"):
    if path != "baseline":
        config._attn_implementation = attention
        return ConvBertForMaskedLM(config)
    # the paper's BERT: same sizes, no convolutional front end (a CL block has no BertConfig equivalent)
    return BertForMaskedLM(BertConfig(
        vocab_size=config.vocab_size, hidden_size=config.hidden_size, num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads, intermediate_size=config.intermediate_size,
        max_position_embeddings=config.max_position_embeddings, pad_token_id=config.pad_token_id,
    ))


def path_name(path: str, precision: str, compile_model: bool, attention: str) -> str:
    """How the output names a path: "ours compiled (bf16)", "ours eager (bf16)", "baseline (fp32)"."""
    return f"{path}{' compiled' if compile_model else ''}{' eager' if attention == 'eager' else ''} ({precision})"


def measure(path: str, precision: str, compile_model: bool, attention: str, config, device: str, threads: int,
            steps: int, warmup: int, batch_size: int, rows, tokenizer) -> dict:
    """Train `warmup + steps` steps, time the last `steps`; real tokens/s, model FLOP/s and peak memory."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = build(path, config, attention).to(device).train()
    cuda = device == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=5.5e-5, weight_decay=1e-2, fused=(path != "baseline") or None)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": None}[precision]
    scaler = torch.amp.GradScaler(enabled=cuda and dtype == torch.float16)
    forward = torch.compile(model) if compile_model else model
    data = batches(path, tokenizer, rows, batch_size, warmup + steps)
    tokens = predicted = 0
    lengths, start, began = [], None, time.perf_counter()
    for step, batch in enumerate(data):
        if step == warmup:
            warmup_s = time.perf_counter() - began  # with --compile: the compilation
            if cuda:
                torch.cuda.synchronize()
            start = time.perf_counter()
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
        with torch.autocast(device, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = forward(**batch).loss
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        optimizer.zero_grad(set_to_none=True)
        if step >= warmup:
            real = batch["attention_mask"].sum(dim=1)
            tokens += int(real.sum())
            predicted += int((batch["labels"] != -100).sum())
            lengths += real.tolist()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    mean_length = sum(lengths) / len(lengths)
    flops = training_flops(config, real_tokens=tokens, mean_length=mean_length, predicted_tokens=predicted)
    peak = torch.cuda.max_memory_allocated() if cuda else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"tokens_per_s": tokens / seconds, "flops_per_s": flops / seconds, "peak_gib": peak / 2**30,
            "seconds": seconds, "warmup_s": warmup_s}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="bert-6", choices=list(PRESETS))
    parser.add_argument("--config-overrides", default=None, help="fields of the model config, e.g. hidden_size=256")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="CPU threads of every path")
    parser.add_argument("--steps", type=int, default=4, help="timed steps per path")
    parser.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--corpus", default="sample:wikitext2", help="WikiText paragraphs (a file or sample:wikitext2)")
    parser.add_argument("--tokenizer", default="sample:bert-base-uncased")
    parser.add_argument("--wordpiece-vocab-size", type=int, default=None,
                        help="train a WordPiece vocabulary of this size on the paragraphs, as the fast recipe does")
    parser.add_argument("--precisions", action="store_true", help="also measure ours in every other precision")
    parser.add_argument("--compile", action="store_true", help="also measure ours under torch.compile")
    parser.add_argument("--eager-attention", action="store_true", help="also measure ours with eager attention")
    parser.add_argument("--peak-tflops", type=float, default=None, help="the hardware's peak, if not known here")
    parser.add_argument("--results", help="also append each measured path to this JSON Lines file, as it is measured")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda but no GPU is visible; use --device cpu")

    paragraphs = load_paragraphs(args.corpus, where={"split": "train"}, normalize_wikitext=True).shuffle(seed=0)
    needed = (args.steps + args.warmup) * args.batch_size
    if needed > len(paragraphs):
        parser.error(f"{needed} paragraphs needed, {args.corpus} has {len(paragraphs)}; lower --steps or --batch-size")
    tokenizer = (train_wordpiece(paragraphs, args.wordpiece_vocab_size) if args.wordpiece_vocab_size
                 else load_tokenizer(args.tokenizer))
    rows = list(tokenize_paragraphs(paragraphs.select(range(needed)), tokenizer))
    config = ModelSettings(preset=args.preset, config_overrides=args.config_overrides).config(tokenizer)

    native = ("bf16" if bf16_available() else "fp32") if args.device == "cpu" else \
        ("bf16" if torch.cuda.is_bf16_supported() else "fp16")
    paths = [("baseline", "fp16" if args.device == "cuda" else "fp32", False, "sdpa"), ("ours", native, False, "sdpa")]
    if args.precisions:
        others = ("fp32", "bf16") if args.device == "cpu" else ("fp32", "bf16", "fp16")
        paths += [("ours", p, False, "sdpa") for p in others if p != native]
    if args.compile:
        paths.append(("ours", native, True, "sdpa"))
    if args.eager_attention:
        paths.append(("ours", native, False, "eager"))
    mean_length = sum(len(r["input_ids"]) for r in rows) / len(rows)
    print(f"{args.preset}{' (' + args.config_overrides + ')' if args.config_overrides else ''}: "
          f"{config.num_hidden_layers} blocks, hidden {config.hidden_size}, vocabulary {config.vocab_size:,}; "
          f"{args.device}, {args.threads} threads, batch {args.batch_size}, {args.steps} timed steps "
          f"(+{args.warmup} warm-up), mean length {mean_length:.1f} tokens")
    context = multiprocessing.get_context("spawn")  # a fresh process per path: its own peak memory
    results, peaks = [], {}
    for path, precision, compile_model, attention in paths:
        with context.Pool(1) as pool:
            r = pool.apply(measure, (path, precision, compile_model, attention, config, args.device, args.threads,
                                     args.steps, args.warmup, args.batch_size, rows, tokenizer))
        if args.peak_tflops:
            peak, how = args.peak_tflops * 1e12, f"{args.peak_tflops} TFLOP/s (given)"
        elif args.device == "cuda":
            peak, how = gpu_peak_flops()
        else:
            peak, how = cpu_peak_flops(precision == "bf16", args.threads)
        peaks[precision] = how
        mfu = f"{100 * r['flops_per_s'] / peak:5.1f}%" if peak else "    -"
        name = path_name(path, precision, compile_model, attention)
        if args.results:
            append_json_line(args.results, dict(
                model=args.preset, batch=args.batch_size, mean_length=mean_length, path=path, precision=precision,
                compiled=compile_model, attention=attention, tokens_per_s=r["tokens_per_s"],
                gflops=r["flops_per_s"] / 1e9, mfu=100 * r["flops_per_s"] / peak if peak else None,
                peak_gib=r["peak_gib"]))
        print(f"{name:>22}: {r['tokens_per_s']:10,.0f} real tokens/s  {r['flops_per_s'] / 1e9:9,.1f} GFLOP/s  "
              f"MFU {mfu}  peak memory {r['peak_gib']:.2f} GiB  ({r['seconds']:.1f} s, warm-up {r['warmup_s']:.1f} s)")
        results.append(r)
    for precision, how in peaks.items():
        print(f"peak ({precision}): {how}")
    for measured, r in list(zip(paths, results))[2:]:
        print(f"{path_name(*measured)} / ours ({native}): {r['tokens_per_s'] / results[1]['tokens_per_s']:.2f}")
    print(f"speedup: {results[1]['tokens_per_s'] / results[0]['tokens_per_s']:.2f}")


if __name__ == "__main__":
    main()
