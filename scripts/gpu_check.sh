#!/usr/bin/env bash
# GPU check for `ftlint smoke` and the VRAM estimator: one short session on a lent GPU (device tool).
#
# Wheels the device image lacks travel in the git-ignored folder `.whl/` (add `/.whl/` to
# .git/info/exclude). Fill it here, on the development machine, with exactly:
#
#   python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
#     --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
#     --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl \
#     trl==1.16.0 bitsandbytes==0.50.2 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 orjson==3.13.0 \
#     pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
#
# (46 MB, 43 of them bitsandbytes; the image already has torch, transformers, peft, accelerate,
# tokenizers, click, pyyaml, jinja2, pyarrow, pandas.) Then, with the device tool:
#
#   run(command="bash scripts/gpu_check.sh", carry=[".whl"], timeout_s=540)
#
# It installs the wheels into /tmp/site, runs scripts/gpu_check.py (random-initialised Llama-3 1B and
# 8B shapes, QLoRA and LoRA, several sequence lengths, `ftlint smoke` on each) within BUDGET seconds,
# and leaves under $OUT: vram_measurements.json (entries in the format of
# src/ftlint/data/vram_measurements.json), gpu_check.log and nvidia-smi.txt. Back here:
#
#   python scripts/gpu_check.py --merge <files_at>/vram_measurements.json
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/gpu_check_out}"
BUDGET="${BUDGET:-420}"
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
nvidia-smi > "$OUT/nvidia-smi.txt" 2>&1 || true
if ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
    || { echo "gpu_check: wheel install failed" | tee "$OUT/gpu_check.log"; exit 3; }
  export PYTHONPATH="/tmp/site:$PWD/src"
else
  echo "gpu_check: no .whl/ folder: using the installed packages"
  export PYTHONPATH="$PWD/src"
fi
python3 -c "import torch, transformers, peft, trl, bitsandbytes, datasets; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'transformers', transformers.__version__, 'peft', peft.__version__, 'trl', trl.__version__, 'bnb', bitsandbytes.__version__)" 2>&1 | tee "$OUT/gpu_check.log"
python3 scripts/gpu_check.py --out "$OUT/vram_measurements.json" --budget "$BUDGET" 2>&1 \
  | grep -v -e "Writing model shards" -e "Loading weights" | tee -a "$OUT/gpu_check.log"
rc=${PIPESTATUS[0]}
rm -rf /tmp/ftlint-gpu-check
exit "$rc"
