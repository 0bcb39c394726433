#!/usr/bin/env bash
# The GPU checks and figures in one call, for a lent GPU machine whose python3 already has torch,
# lightning, torchmetrics, pandas and pytest (nothing is installed: such machines reach no registry).
#
#   bash benchmarks/gpu.sh OUTDIR             # about 6 minutes on an H100
#   SECTIONS= bash benchmarks/gpu.sh OUTDIR   # the tests alone
#
# 1. the test suite's core on CUDA (`device="auto"` picks the GPU there): the loop, the per-step
#    tracking, metrics, checkpoints, compare, LR finder, CLI -- and the CUDA-only no-host-sync tests;
# 2. the benchmark sections that take a device, each into its own JSON (a section cut off by its time
#    limit loses only itself). Everything printed also goes to OUTDIR/log.txt (six files in all).
set -u
out=${1:-/tmp/trainwise-gpu}
mkdir -p "$out"
export PYTHONPATH="$PWD/src:$PWD" PYTHONUNBUFFERED=1 MPLBACKEND=Agg
device=${DEVICE:-cuda}
repeats=${REPEATS:-5}

exec > >(tee -a "$out/log.txt") 2>&1
nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv
python3 -c "import torch, pandas, lightning, torchmetrics; print('torch', torch.__version__, 'cuda', torch.cuda.is_available(), \
'pandas', pandas.__version__, 'lightning', lightning.__version__, 'torchmetrics', torchmetrics.__version__)"

echo "== tests on $device"
xdist=""
python3 -c "import xdist" 2>/dev/null && xdist="-n 8"
timeout "${TEST_LIMIT:-200}" python3 -m pytest -q -p no:cacheprovider $xdist \
    tests/test_tracking.py tests/test_loop.py tests/test_metrics_accumulator.py tests/test_metrics_functional.py \
    tests/test_metrics_curves.py tests/test_checkpoint.py tests/test_compare.py tests/test_lrfind.py \
    tests/test_cli.py >"$out/tests.txt" 2>&1
echo "pytest exit $?"
tail -25 "$out/tests.txt"

for section in ${SECTIONS-loops precision scaling leakage}; do
    echo "== $section on $device"
    timeout "${SECTION_LIMIT:-150}" python3 benchmarks/run.py --device "$device" --only "$section" --repeats "$repeats" \
        --out "$out/$section.json"
done
