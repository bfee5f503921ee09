"""Committee latency with launch overhead removed: bench_latency.py's models replayed as CUDA graphs, logits checked.

    python train/benchmarks/latency_graphs.py --device cuda --batch-sizes 1 32 --committees table8 cheap

At batch 1 a GPU spends most of a small model's forward waiting for Python to launch kernels, so the paper's
latency argument (a shallow committee is faster than BERT-6) only shows once launches are gone. For BERT-6 and
each committee of train/benchmarks/bench_latency.py (members overlapped on CUDA streams, as the committee runs them):
- eager: the model as it is;
- graph: one forward captured into a CUDA graph (torch.cuda.CUDAGraph) and replayed: no Python, one launch; a
  committee whose threads cannot be captured is captured again with its members one after another on one stream;
- compiled: torch.compile(mode="reduce-overhead"), Inductor's fused kernels replayed as CUDA graphs.
Before timing, each variant's logits are compared with the eager ones on the same input (max |difference|).
Repeats are interleaved across variants, as in bench_latency.py. On a CPU there are no CUDA graphs: only
`compiled` runs there (`--compile-backend eager` checks the wiring in seconds). Ends with one line
`latency ratio (fastest): X.XX`: the --ratio-committee committee's fastest variant over BERT-6's fastest, batch 1.
"""

import statistics
import sys
from pathlib import Path

import torch

from tlm_hf.fileio import append_json_line

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_latency import (  # noqa: E402
    build_subjects, latency_parser, measure, parse_latency_args, percentile,
)


class GraphedForward:
    """A model's forward at one input shape, captured once into a CUDA graph and replayed: inputs are copied into
    the captured buffers, logits come back from the captured output (valid until the next call)."""

    def __init__(self, model, input_ids, attention_mask):
        self.input_ids, self.attention_mask = input_ids.clone(), attention_mask.clone()
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side), torch.inference_mode():
            for _ in range(3):  # allocator, cuBLAS handles and lazy initialisation outside the capture
                model(self.input_ids, attention_mask=self.attention_mask)
        torch.cuda.current_stream().wait_stream(side)
        torch.cuda.synchronize()
        self.graph = torch.cuda.CUDAGraph()
        # thread_local: a committee's member threads launch on streams forked from the capturing one
        with torch.inference_mode(), torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            self.logits = model(self.input_ids, attention_mask=self.attention_mask).logits

    def __call__(self, input_ids, attention_mask):
        self.input_ids.copy_(input_ids)
        self.attention_mask.copy_(attention_mask)
        self.graph.replay()
        return self.logits


def one_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {str(error).strip().splitlines()[0] if str(error).strip() else ''}"[:200]


def variants(subject: dict, input_ids, attention_mask, device, backend: str,
             wanted=("graph", "compiled")) -> list[dict]:
    """The subject's `wanted` variants that build, each with its logits' max |difference| from eager; a variant
    that does not build is printed with its one-line reason and left out."""
    model = subject["model"]
    with torch.inference_mode():
        reference = model(input_ids, attention_mask=attention_mask).logits.float()
    built = []

    def check(name, forward):
        with torch.inference_mode():
            logits = forward(input_ids, attention_mask=attention_mask)
            logits = logits.logits if hasattr(logits, "logits") else logits
            difference = (logits.float() - reference).abs().max().item()
        built.append(dict(name=f"{subject['name']} [{name}]", model=forward, layers=subject["layers"],
                          difference=difference))

    if device.type == "cuda" and "graph" in wanted:
        try:
            check("graph", GraphedForward(model, input_ids, attention_mask))
        except Exception as error:  # noqa: BLE001  (a capture that fails is a measurement, not a crash)
            print(f"note: {subject['name']}: no CUDA graph ({one_line(error)})")
            if getattr(model.config, "concurrent_members", False):
                model.config.concurrent_members = False  # members one after another on the capturing stream
                try:
                    check("graph, one stream", GraphedForward(model, input_ids, attention_mask))
                except Exception as error:  # noqa: BLE001
                    print(f"note: {subject['name']}: no CUDA graph on one stream either ({one_line(error)})")
                finally:
                    model.config.concurrent_members = True
    if "compiled" not in wanted:
        return built
    try:
        mode = "reduce-overhead" if device.type == "cuda" and backend == "inductor" else None
        check("compiled", torch.compile(model, mode=mode, backend=backend, dynamic=False))
    except Exception as error:  # noqa: BLE001
        print(f"note: {subject['name']}: torch.compile failed ({one_line(error)})")
    return built


def main(argv=None):
    parser = latency_parser(__doc__, warmup=5, repeats=30, committees=["table8", "cheap"])
    parser.add_argument("--variants", nargs="+", choices=["graph", "compiled"], default=["graph", "compiled"],
                        help="besides eager (graph: CUDA only)")
    parser.add_argument("--compile-backend", default="inductor", help="torch.compile's backend (eager: wiring only)")
    args = parse_latency_args(parser, argv)
    device = torch.device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {where}; sequence {args.seq_len}; warm-up {args.warmup}, repeats {args.repeats}; "
          f"variants {', '.join(args.variants)}; torch.compile backend {args.compile_backend}")

    # the committees as configured (members batched and on their own streams); their sequential twins are
    # bench_latency.py's business
    subjects = [s for s in build_subjects(args.committees, device) if not s["name"].endswith("sequential")]
    print("\n| model | variant | batch | p50 ms | p95 ms | p50 / BERT-6 eager | max abs logit difference |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    fastest = {}
    for batch_size in args.batch_sizes:
        torch.manual_seed(batch_size)
        input_ids = torch.randint(1000, 30000, (batch_size, args.seq_len), device=device)
        attention_mask = torch.ones_like(input_ids)
        timed = []
        for subject in subjects:
            timed.append({**subject, "difference": 0.0})
            timed += variants(subject, input_ids, attention_mask, device, args.compile_backend, args.variants)
        times = measure(timed, batch_size, args.seq_len, args.warmup, args.repeats, device)
        base = statistics.median(times["BERT-6"])
        for entry in timed:
            model_name, _, variant = entry["name"].partition(" [")
            variant = variant.rstrip("]") or "eager"
            p50 = statistics.median(times[entry["name"]])
            fastest[model_name, batch_size] = min(p50, fastest.get((model_name, batch_size), float("inf")))
            if args.results:
                append_json_line(args.results, dict(
                    model=model_name, variant=variant, batch=batch_size, p50_ms=p50,
                    p95_ms=percentile(times[entry["name"]], 95), difference=entry["difference"]))
            print(f"| {model_name} | {variant} | {batch_size} | {p50:.2f} | {percentile(times[entry['name']], 95):.2f} "
                  f"| {p50 / base:.2f} | {entry['difference']:.2e} |", flush=True)
    ratio = fastest[f"{args.ratio_committee} committee", 1] / fastest["BERT-6", 1]
    print(f"\nlatency ratio (fastest): {ratio:.2f}")


if __name__ == "__main__":
    main()
