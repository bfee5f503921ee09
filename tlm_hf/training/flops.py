"""Model FLOPs of an MLM training step and the peak FLOP rate of the hardware: model FLOPs utilisation (MFU).

MFU = model FLOPs per second / the hardware's peak (PaLM, Chowdhery et al. 2022, appendix B). Model FLOPs
count the useful work of a step, padding excluded and recomputation not counted: for every real token, forward
and backward (3 x the forward's 2 FLOPs per multiply-add) of
- each weight matrix applied once per token: 6 x the non-embedding, non-convolution parameters;
- attention: 12 x layers x hidden x (the sequence's real length), QK^T and AV (Kaplan et al. 2020);
- convolutional layers (the paper's 2-D CLs over the tokens x hidden plane): 6 x kernel area x in x out
  channels x hidden per token and layer (1 -> d channels, d -> d, then a 1x1 back to 1);
and for every masked (predicted) token, the MLM head's transform and decoder: 6 x (hidden^2 + vocab x hidden),
as our head projects only masked positions (sparse prediction).
"""

import os
import platform
import re

import torch

# Dense bf16 peaks of the GPUs we know (NVIDIA data sheets, SXM boards; tensor cores without sparsity).
GPU_PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12, "L40": 181e12}


def training_flops(config, *, real_tokens: int, mean_length: float, predicted_tokens: int) -> float:
    """Model FLOPs of one MLM training step over `real_tokens` tokens (sequences of `mean_length` real tokens on
    average), `predicted_tokens` of them masked; `config` a ConvBertConfig (see the module docstring)."""
    hidden, layers = config.hidden_size, config.num_hidden_layers
    # Q, K, V, output; FFN in and out: applied once per block and token (shared weights count per application)
    dense = layers * (4 * hidden * hidden + 2 * hidden * config.intermediate_size)
    conv = 0  # multiply-adds per position of the tokens x hidden plane: 1 -> d -> ... -> d channels, then 1x1 to 1
    if getattr(config, "num_conv_layers", 0):
        kernel_h, kernel_w = config.conv_kernel_size
        channels = config.conv_channels
        conv = kernel_h * kernel_w * channels * (1 + channels * (config.num_conv_layers - 1)) + channels
        conv *= hidden  # per token: a row of `hidden` positions
    attention = 2 * layers * hidden * mean_length  # QK^T and AV multiply-adds per token
    head = hidden * hidden + config.vocab_size * _embedding_width(config)
    return 6 * (dense + conv + attention) * real_tokens + 6 * head * predicted_tokens


def _embedding_width(config) -> int:
    return getattr(config, "embedding_size", None) or config.hidden_size


def cpu_peak_flops(bf16: bool, threads: int | None = None) -> tuple[float, str]:
    """This CPU's peak FLOP/s for `threads` cores (default: torch's thread count) and how it was reckoned:
    cores x clock x FLOPs per cycle of its widest native units (AMX tiles for bf16; AVX-512 or AVX2 FMAs for fp32,
    AMD's Zen 4 running AVX-512 on 256-bit halves; avx512_bf16 dot products at twice the fp32 rate)."""
    threads = threads or torch.get_num_threads()
    info = _cpuinfo()
    ghz = float(info.get("cpu MHz", 0) or 0) / 1000
    amd = "AMD" in info.get("vendor_id", "") or "AMD" in info.get("model name", "")
    flags = set(info.get("flags", "").split())
    if "avx512f" in flags:
        fp32, unit = (32, "AVX-512 on 2 x 256-bit FMA (Zen 4)") if amd else (64, "AVX-512, 2 FMA units")
    elif "avx2" in flags:
        fp32, unit = 32, "AVX2, 2 FMA units"
    else:
        fp32, unit = 8, "SSE"
    per_cycle, what = fp32, f"fp32 {unit}: {fp32} FLOP/cycle"
    if bf16 and "amx_bf16" in flags:
        per_cycle, what = 1024, "bf16 AMX tiles: 1,024 FLOP/cycle"
    elif bf16 and "avx512_bf16" in flags:
        per_cycle, what = 2 * fp32, f"bf16 avx512_bf16 dot products: {2 * fp32} FLOP/cycle"
    return threads * ghz * 1e9 * per_cycle, f"{threads} cores x {ghz:.2f} GHz x {what}"


def cpu_name() -> str:
    """This CPU's model name and its native bf16 units (AMX, avx512_bf16), which decide how fast a run trains."""
    info = _cpuinfo()
    units = [unit for unit in ("amx_bf16", "avx512_bf16") if unit in info.get("flags", "").split()]
    return f"{info.get('model name') or platform.processor()} ({', '.join(units) or 'no native bf16'})"


def gpu_peak_flops() -> tuple[float | None, str]:
    """The visible GPU's dense bf16 peak from GPU_PEAK_BF16 (None when the GPU is not listed)."""
    name = torch.cuda.get_device_name()
    for key, peak in GPU_PEAK_BF16.items():
        if re.search(rf"\b{key}\b", name):
            return peak, f"{name}: {peak / 1e12:,.0f} TFLOP/s dense bf16 (data sheet)"
    return None, f"{name}: peak unknown; give --peak-tflops"


def _cpuinfo() -> dict:
    info = {}
    if os.path.exists("/proc/cpuinfo"):
        for line in open("/proc/cpuinfo"):
            key, _, value = line.partition(":")
            if not line.strip():
                break  # the first processor is enough
            info.setdefault(key.strip(), value.strip())
    return info
