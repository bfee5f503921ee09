"""Wall-clock latency of BERT-6 against soft committees of shallow BERT-1 members.

The paper argues from layer counts (BERT-6: 6 x 4 + 1 = 25 layers; BERT-1 with two CLs: 4 + 3 = 7). This
measures p50 / p95 latency at sequence length 128, batch 1 and 32, for BERT-6 and for committees of the
Table 8 members, the Table 9 members and the cheaper presets, all in one run on one machine. Repeats are
interleaved (one call of every model per round) so that background load hits every model alike. Weights are
random: latency does not depend on them. The last line is `latency ratio: X.XX`, the committee given by
--ratio-committee over BERT-6 at batch 1 (p50).

    python train/benchmarks/bench_latency.py --device cpu --warmup 3 --repeats 20
"""

import argparse
import os
import statistics

import torch

from tlm_hf import ConvBertConfig, ConvBertForSequenceClassification, SoftCommitteeForSequenceClassification
from tlm_hf.fileio import append_json_line
from tlm_hf.training.claims.latency import measure  # latency_graphs.py imports it from here too

COMMITTEES = {
    "table8": [
        "bert-1-cl2-d64-k3x3-h8", "bert-1-cl2-d64-k3x3-h12", "bert-1-h24", "bert-1-cl2-d64-k16x3-h12",
        "bert-1-cl3-d32-k3x3-h12",
    ],
    "table9": ["bert-1-h12", "bert-1-h12", "bert-1-cl1-d64-k3x3-h12"],
    "cheap": [
        "bert-1-cl2-d8-k3x3-h3", "bert-1-cl2-d8-k3x3-h4", "bert-1-h8", "bert-1-cl2-d8-k16x3-h4",
        "bert-1-cl3-d4-k3x3-h4",
    ],
}
NUM_LABELS = 4  # AG News; the classifier head's size does not matter for latency


def paper_layers(config: ConvBertConfig) -> int:
    """The paper's latency proxy: 4 layers per transformer block, one per CL, plus one."""
    return 4 * config.num_hidden_layers + config.num_conv_layers + 1


def classifier(preset: str, device) -> ConvBertForSequenceClassification:
    config = ConvBertConfig.from_preset(preset, num_labels=NUM_LABELS)
    return ConvBertForSequenceClassification(config).to(device).eval()


def build_subjects(committees: list[str], device) -> list[dict]:
    """BERT-6, then each committee twice: as configured (batched + concurrent) and strictly one member after another."""
    subjects = [dict(name="BERT-6", model=classifier("bert-6", device), layers=25)]
    for name in committees:
        members = [classifier(preset, device) for preset in COMMITTEES[name]]
        layers = max(paper_layers(member.config) for member in members)
        committee = SoftCommitteeForSequenceClassification.from_members(members)
        sequential = SoftCommitteeForSequenceClassification.from_members(
            members, batch_identical_members=False, concurrent_members=False
        )
        subjects.append(dict(name=f"{name} committee", model=committee, layers=layers))
        subjects.append(dict(name=f"{name} committee, sequential", model=sequential, layers=layers))
    return subjects


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def latency_parser(description: str, *, warmup: int, repeats: int, committees: list[str]) -> argparse.ArgumentParser:
    """The options every latency benchmark takes (this script's and latency_graphs.py's), with their defaults."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--warmup", type=int, default=warmup)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--committees", nargs="+", choices=list(COMMITTEES), default=committees)
    parser.add_argument("--ratio-committee", choices=list(COMMITTEES), default="table8")
    parser.add_argument("--results", help="also append each measured row to this JSON Lines file, as it is measured")
    return parser


def parse_latency_args(parser: argparse.ArgumentParser, argv) -> argparse.Namespace:
    """Parse, then refuse in one line what no latency benchmark can measure."""
    args = parser.parse_args(argv)
    if args.ratio_committee not in args.committees:
        parser.error(f"--ratio-committee {args.ratio_committee} must be one of --committees")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: no CUDA device is available")
    if 1 not in args.batch_sizes:
        parser.error("--batch-sizes must include 1 (the latency ratio is taken at batch 1)")
    return args


def main(argv=None):
    parser = latency_parser(__doc__, warmup=3, repeats=20, committees=list(COMMITTEES))
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="CPU threads for torch (default: all)")
    args = parse_latency_args(parser, argv)
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_num_threads(args.threads)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    print(f"device: {where}; sequence {args.seq_len}; warm-up {args.warmup}, repeats {args.repeats}")
    load = os.getloadavg()[0]
    print(f"load average before: {load:.2f}")
    if device.type == "cpu" and load > 0.5 and torch.get_num_threads() > 1:
        # Intra-op threads wait for each other at every operation; on a shared machine one is often descheduled.
        print("note: the machine is busy; with several threads per operation, latencies inflate unevenly: "
              "--threads 1 gives steadier figures")

    subjects = build_subjects(args.committees, device)
    print("\n| model | paper's layers | batch | p50 ms | p95 ms | p50 / BERT-6 |")
    print("| --- | --- | --- | --- | --- | --- |")
    p50 = {}
    for batch_size in args.batch_sizes:
        times = measure(subjects, batch_size, args.seq_len, args.warmup, args.repeats, device)
        for subject in subjects:
            name = subject["name"]
            p50[name, batch_size] = statistics.median(times[name])
            ratio = p50[name, batch_size] / p50["BERT-6", batch_size]
            if args.results:  # a committee's sequential twin: its members one after another
                sequential = name.endswith(", sequential")
                append_json_line(args.results, dict(
                    model=name.removesuffix(", sequential"), batch=batch_size, p50_ms=p50[name, batch_size],
                    p95_ms=percentile(times[name], 95), difference=None,
                    variant="eager, members one after another" if sequential else "eager"))
            print(
                f"| {name} | {subject['layers']} | {batch_size} | {p50[name, batch_size]:.1f} "
                f"| {percentile(times[name], 95):.1f} | {ratio:.2f} |"
            )
    print(f"\nload average after: {os.getloadavg()[0]:.2f}")
    print("paper's layer count: BERT-6 25 vs BERT-1 with two CLs 7 (a committee is as deep as its deepest member)")
    print(f"latency ratio: {p50[f'{args.ratio_committee} committee', 1] / p50['BERT-6', 1]:.2f}")


if __name__ == "__main__":
    main()
