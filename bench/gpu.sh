#!/usr/bin/env bash
# The benchmark on a GPU machine with a larger model: bench/gpu.sh MODEL [more `recsys bench` options]
#
#   bench/gpu.sh gemma3-270m                      # an embedded model (no network needed)
#   bench/gpu.sh /models/Qwen2.5-7B --skip-indexing
#
# MODEL is an embedded name, a local folder or a Hugging Face id (ids need the network or a filled HF cache).
# Runs on CUDA in bfloat16; the engine chooses its batch sizes from free GPU memory and halves them on
# out-of-memory. Writes $OUT_DIR/gpu-<model>-<gpu>.json (OUT_DIR defaults to docs/bench) and prints the report.
# PYTHON selects the interpreter (default .venv/bin/python, else python3); it needs a CUDA build of torch:
#   pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128 && pip install -r requirements.txt
set -euo pipefail
cd "$(dirname "$0")/.."

model="${1:?usage: bench/gpu.sh MODEL [recsys bench options]}"
shift
py="${PYTHON:-}"
if [ -z "$py" ]; then
  if [ -x .venv/bin/python ]; then py=.venv/bin/python; else py=python3; fi
fi

"$py" - <<'PY'
import sys
import torch
if not torch.cuda.is_available():
    sys.exit(f"no CUDA device visible to torch {torch.__version__} (a CPU build?); see the header of bench/gpu.sh")
PY
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,memory.used,driver_version --format=csv

gpu="$("$py" -c 'import torch; print(torch.cuda.get_device_name(0))' | tr -c 'A-Za-z0-9.\n-' '_' | tr -s '_')"
name="$(basename "$model" | tr -c 'A-Za-z0-9.\n-' '_')"
out="${OUT_DIR:-docs/bench}/gpu-${name}-${gpu}.json"
mkdir -p "$(dirname "$out")"

# the plain loop is ~100x slower per pair than the engine even on a GPU: 200 pairs keep it to seconds
export TOKENIZERS_PARALLELISM=false
"$py" -m recsys bench --device cuda --model "$model" --plain-pairs 200 --db "${BENCH_DB:-data/bench.db}" \
  --json "$out" "$@"
echo "results: $out"
