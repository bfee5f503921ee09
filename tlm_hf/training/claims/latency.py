"""Latency of a deep model against a soft committee, measured two ways, each labelled.

- total work: the members one after another on the caller's threads: what the committee costs in compute;
- side by side: the members at once, on threads of their own on a CPU (each with the caller's intra-op threads)
  or on CUDA streams on a GPU (`concurrent_members`): what the paper's shallow members are for, and what its
  latency claim is judged on.

Repeats are interleaved (one call of every model per round) so that background load hits every model alike.
"""

import time

import torch

from .analysis import SIDE_BY_SIDE, TOTAL_WORK, Latency


def measure(subjects: list[dict], batch_size: int, seq_len: int, warmup: int, repeats: int, device, *,
            vocab_size: int = 30000) -> dict:
    """Latencies in ms per subject name ({"name", "model"}), interleaved across subjects (token ids drawn below
    vocab_size)."""
    input_ids = torch.randint(min(1000, vocab_size // 2), vocab_size, (batch_size, seq_len), device=device)
    attention_mask = torch.ones_like(input_ids)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    times = {subject["name"]: [] for subject in subjects}
    with torch.inference_mode():
        for round_index in range(warmup + repeats):
            for subject in subjects:
                sync()
                start = time.perf_counter()
                subject["model"](input_ids, attention_mask=attention_mask)
                sync()
                if round_index >= warmup:
                    times[subject["name"]].append(1000 * (time.perf_counter() - start))
    return times


def committee_latencies(deep, members, *, vocab_size: int, seq_len: int, repeats: int, threads: int,
                        batch_sizes=(1, 32), warmup: int = 2) -> list[Latency]:
    """Deep model against the soft committee of `members`, total work and side by side, at each batch size.

    Every model gets `threads` intra-op threads; side by side, each member runs on a thread of its own (so the
    committee may use up to members x threads cores, the point of shallow members). On a GPU the models move
    there and side by side means one CUDA stream per member."""
    from ...models.modeling_soft_committee import SoftCommitteeForSequenceClassification

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    committees = {way: SoftCommitteeForSequenceClassification.from_members(
        members, batch_identical_members=False, concurrent_members=way == SIDE_BY_SIDE).to(device).eval()
        for way in (TOTAL_WORK, SIDE_BY_SIDE)}
    subjects = [dict(name="deep", model=deep.to(device).eval()),
                *(dict(name=way, model=model) for way, model in committees.items())]
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU, {threads} thread(s) per model"
    how = {TOTAL_WORK: f"{where}; members one after another",
           SIDE_BY_SIDE: f"{where}; members at once, " + ("one CUDA stream each" if device.type == "cuda"
                                                          else "one Python thread each")}
    latencies, before = [], torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        for batch_size in batch_sizes:
            times = measure(subjects, batch_size, seq_len, warmup, repeats, device, vocab_size=vocab_size)
            latencies += [Latency(way, batch_size, tuple(times["deep"]), tuple(times[way]),
                                  f"{how[way]}; sequence {seq_len}, {repeats} interleaved repeats")
                          for way in (TOTAL_WORK, SIDE_BY_SIDE)]
    finally:
        torch.set_num_threads(before)
    return latencies
