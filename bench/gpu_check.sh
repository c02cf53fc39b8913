#!/usr/bin/env bash
# One short GPU check (issue 15): the job-title demo with bf16 on one GPU, then the SST-2 full fine-tune
# (bench/recipes/sst2_compare.yaml's data and settings, strategy full) with bf16. Prints times and metrics;
# record them in bench/RESULTS.md.
#
#   bash bench/gpu_check.sh                      # from the repo root, domaintune installed
#
# Environment: DOMAINTUNE (the command, default `domaintune`), MODEL (default all-MiniLM-L6-v2), SST2_DIR (default
# ../shared/datasets/sst2, train.tsv[.gz] and dev.tsv), OUT (run folders, default bench/out/gpu; never replaced:
# each run refuses an occupied folder).
set -euo pipefail
DOMAINTUNE=${DOMAINTUNE:-domaintune}
MODEL=${MODEL:-all-MiniLM-L6-v2}
SST2_DIR=${SST2_DIR:-../shared/datasets/sst2}
OUT=${OUT:-bench/out/gpu}
TRAIN="$SST2_DIR/train.tsv"
[ -f "$TRAIN" ] || TRAIN="$SST2_DIR/train.tsv.gz"

python3 - <<'EOF'
import torch
print("torch", torch.__version__, "cuda", torch.version.cuda, torch.cuda.get_device_name(0) if torch.cuda.is_available()
      else "NO GPU", "bf16" if torch.cuda.is_available() and torch.cuda.is_bf16_supported() else "")
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
for _ in range(3):
    a @ a
torch.cuda.synchronize()
start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
start.record()
for _ in range(10):
    a @ a
end.record()
torch.cuda.synchronize()
print(f"bf16 matmul 8192^3: {10 * 2 * 8192 ** 3 / (start.elapsed_time(end) / 1000) / 1e12:.0f} TFLOP/s")
EOF

echo "== demo, bf16"
start=$(date +%s)
$DOMAINTUNE demo --output "$OUT/demo" --set model.name="$MODEL" --set training.precision=bf16 || echo "demo FAILED"
echo "demo wall seconds: $(( $(date +%s) - start ))"

echo "== SST-2 full fine-tune, bf16"
start=$(date +%s)
$DOMAINTUNE train bench/recipes/sst2_compare.yaml --set strategy=full --set model.name="$MODEL" \
  --set training.precision=bf16 --set data.train="$TRAIN" --set data.test="$SST2_DIR/dev.tsv" \
  --output "$OUT/sst2_full" || echo "sst2 full FAILED"
echo "sst2 full wall seconds: $(( $(date +%s) - start ))"

python3 - "$OUT" <<'EOF'
import json, sys
from pathlib import Path
for run in ("demo", "sst2_full"):
    if not (Path(sys.argv[1]) / run / "metrics.json").exists():
        print(run, "did not finish")
        continue
    m = json.loads((Path(sys.argv[1]) / run / "metrics.json").read_text())
    t = m.get("training", {})
    print(run, "train seconds", t.get("seconds"), "steps", t.get("global_step"), "precision", t.get("precision"),
          "device", t.get("device"), "global batch", t.get("global_batch_size"))
    for ev, ms in m.get("after", {}).items():
        print(" ", ev, {k: round(v, 4) for k, v in ms.items() if isinstance(v, float)})
EOF
