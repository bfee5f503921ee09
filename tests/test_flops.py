"""Model FLOPs of a training step (for MFU) and the benchmark that reports them."""

import subprocess
import sys

import pytest
import torch
from training_helpers import REPO

from tlm_hf import ConvBertConfig, ConvBertForMaskedLM
from tlm_hf.training.flops import cpu_peak_flops, training_flops


def block_matrix_parameters(model) -> int:
    """The weights of the transformer blocks applied once per token: every 2-D weight inside the encoder."""
    return sum(p.numel() for name, p in model.named_parameters() if name.startswith("bert.encoder.layer")
               and p.dim() == 2)


@pytest.mark.parametrize("overrides", [{}, {"num_hidden_layers": 3, "intermediate_size": 96}])
def test_training_flops_count_six_per_block_weight_and_token_plus_attention_and_the_sparse_head(overrides):
    config = ConvBertConfig.from_preset("tiny", vocab_size=500, **overrides)
    model = ConvBertForMaskedLM(config)
    weights = block_matrix_parameters(model)
    assert weights > 0
    tokens, length, predicted = 1000, 50.0, 150
    expected = (6 * weights * tokens + 6 * 2 * config.num_hidden_layers * config.hidden_size * length * tokens
                + 6 * (config.hidden_size ** 2 + config.vocab_size * config.hidden_size) * predicted)
    assert training_flops(config, real_tokens=tokens, mean_length=length, predicted_tokens=predicted) == expected


@pytest.mark.parametrize("layers", [1, 3])
def test_convolutional_layers_count_every_kernel_weight_at_every_position_of_the_plane(layers):
    plain = ConvBertConfig.from_preset("tiny", vocab_size=500)
    with_cls = ConvBertConfig.from_preset("tiny", vocab_size=500, num_conv_layers=layers, conv_channels=4,
                                          conv_kernel_size=[3, 5])
    kernels = sum(p.numel() for name, p in ConvBertForMaskedLM(with_cls).named_parameters()
                  if name.startswith("bert.conv") and p.dim() == 4)
    counts = dict(real_tokens=10, mean_length=10.0, predicted_tokens=0)
    extra = training_flops(with_cls, **counts) - training_flops(plain, **counts)
    assert extra == 6 * kernels * plain.hidden_size * 10


def test_cpu_peak_names_its_reckoning():
    peak, how = cpu_peak_flops(bf16=False, threads=2)
    assert peak >= 0 and how.startswith("2 cores x")


def test_the_benchmark_reports_mfu_and_the_speedup(tmp_path):
    done = subprocess.run([sys.executable, str(REPO / "train" / "benchmarks" / "bench_pretrain.py"), "--preset", "tiny",
                           "--wordpiece-vocab-size", "300", "--threads", "1", "--steps", "1", "--warmup", "0",
                           "--batch-size", "4"], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "MFU" in done.stdout and "peak (fp32)" in done.stdout or "peak (bf16)" in done.stdout
    assert done.stdout.strip().splitlines()[-1].startswith("speedup: ")
