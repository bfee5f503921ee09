#!/usr/bin/env bash
# The GPU check in one command (see train/benchmarks/gpu_check.py for the parts and options):
#   bash train/benchmarks/gpu_check.sh --output_dir runs/gpu-check --archive gpu-check.tar.gz
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 train/benchmarks/gpu_check.py "$@"
