#!/usr/bin/env bash
# The checks run on a lent CUDA machine (the `device` tool), one command: the GPU parity tests of every cell,
# the modern cells' throughput on the GPU (fp32 and bf16), and each task's train + predict on the GPU with a
# modern cell. Results land in $OUT (default ./gpu-out). Usage: bash benchmarks/gpu_check.sh [DEVICE]
set -u
DEV=${1:-cuda}
OUT=${OUT:-gpu-out}
mkdir -p "$OUT"
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
PY=${PY:-python3}
LK="$PY -m lstmkit.cli"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv 2>&1 | tee "$OUT/gpu.txt"
$PY -c "import torch, lightning; print('torch', torch.__version__, 'lightning', lightning.__version__, torch.cuda.is_available())" | tee -a "$OUT/gpu.txt"
T0=$SECONDS
# 1. parity: every cell on the GPU against the CPU
$PY -m pytest -q -p no:cacheprovider tests/nn/test_cuda.py tests/nn/test_modern.py 2>&1 | tail -25 | tee "$OUT/parity.txt"
echo "parity done at $((SECONDS - T0)) s"
# 2. each task trains and predicts on the device with a modern cell
W=$(mktemp -d)
$PY - "$W" <<'PYEOF'
import sys, numpy as np, pandas as pd
from pathlib import Path
w = Path(sys.argv[1]); rng = np.random.default_rng(0)
days = pd.date_range("2024-01-01", periods=240, freq="D")
rows = [(f"s{k}", d, 10 + k + np.sin(t / 6) * 3 + rng.normal(0, .3)) for k in range(3) for t, d in enumerate(days)]
pd.DataFrame(rows, columns=["id", "t", "y"]).to_csv(w / "series.csv", index=False)
words = "the cat sat on the mat and the dog ran in the park while a bird sang".split()
(w / "text.txt").write_text("\n".join(" ".join(rng.choice(words, 12)) for _ in range(400)))
PYEOF
{
for cell in slstm mlstm mingru; do
  echo "== forecast $cell"
  $LK forecast train --data "$W/series.csv" --id-col id --time-col t --target y --horizon 12 --cell $cell \
    --device $DEV --max-steps 60 --out "$W/f-$cell" --no-progress --json 2>&1 | tail -3
  echo "== lm $cell"
  $LK lm train --text "$W/text.txt" --cell $cell --device $DEV --max-steps 60 --out "$W/l-$cell" --no-progress --json 2>&1 | tail -3
done
} > "$OUT/tasks.txt" 2>&1
tail -40 "$OUT/tasks.txt"
echo "tasks done at $((SECONDS - T0)) s"
# 3. throughput on the GPU, fp32 then bf16
if [ "$DEV" = cuda ]; then
  $PY benchmarks/modern_cells.py --device cuda --lengths 256 1024 4096 --batch 16 --hidden 256 --repeats 5 \
    --no-write 2>&1 | tail -18 | tee "$OUT/throughput.md"
  $PY benchmarks/modern_cells.py --device cuda --bf16 --lengths 1024 4096 --batch 16 --hidden 256 --repeats 5 \
    --no-write 2>&1 | tail -13 | tee "$OUT/throughput-bf16.md"
fi
echo "all done at $((SECONDS - T0)) s"
