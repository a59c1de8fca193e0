#!/usr/bin/env bash
# The GPU measurements of docs/gpu.md, as run on a lent GPU machine that has
# PyTorch but no package index: the notebook stack travels as wheels in .dev/whl and GloVe 6B 50d
# as the transcripts' vocabulary cut from it (.dev/glove.6B.50d.mosi-vocab.txt, written and
# checked identical by tools/glove_subset.py --check). Prepare here, from the repo root:
#   pip download ... -d .dev/whl papermill==2.7.0 ... (the notebook stack, no deps, cp312)
#   python tools/glove_subset.py .dev/glove.6B.50d.mosi-vocab.txt --check
# then run this script there (carry .dev). Writes logs and tables to $OUT (or ./gpu_out).
# SMOKE=1 runs the same chain with tiny epochs (to try the script on a CPU first); SET="k=v ..."
# adds config overrides (e.g. SET="system.compile=true system.compile_mode=reduce-overhead");
# PARTS picks what runs, in order (default "tests reproduce bench": the gpu-marked tests, the
# paper profile, make bench; "tail" adds tools/epoch_tail.py); BENCH_ARGS replaces the bench's
# options (e.g. "--epochs 5 --only loops --compile reduce-overhead"); REPRODUCE_LIMIT /
# BENCH_LIMIT / TESTS_LIMIT / TAIL_LIMIT (seconds) stop each part (the eager paper profile of
# one seed took 313 s on an H100, 2026-11-26); RUN_ID names the study and its output files
# (default gpu-check; a second reproduce with other SET values on the same machine needs
# another RUN_ID); TESTS_K picks gpu-marked tests by a pytest -k expression.
# Next lent GPU (system.cuda_graphs, never run on a GPU yet; a task gets 15 min of device time,
# the machine's start included): one call first (each GPU test starts its own pytest, ~7 s; the
# torch.compile tests compile for minutes, so it runs the fast ones only):
#   PARTS="tests tail bench reproduce" TESTS_K="test_graphs or (loops_table and not reduce)" \
#     BENCH_ARGS="--epochs 5 --only loops" SET=system.cuda_graphs=true RUN_ID=gpu-graphs \
#     TESTS_LIMIT=120 REPRODUCE_LIMIT=300 bash tools/gpu_check.sh
# then, only if status's budget_left_s is over ~400 (the eager study took 313 s), the eager
# study for comparison: PARTS=reproduce RUN_ID=gpu-eager REPRODUCE_LIMIT=<budget - 60>; the
# compile tests last, with time left: PARTS=tests TESTS_K="precision or reduce or
# train_and_keep or both_stages" TESTS_LIMIT=400. Otherwise give the machine back.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-gpu_out}
RUN_ID=${RUN_ID:-gpu-check}
mkdir -p "$OUT"
PY=${PY:-python3}
if [ -d .dev/whl ] && ! $PY -c "import papermill, ipykernel" 2>/dev/null; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target /tmp/site .dev/whl/*.whl || exit 1
    export PYTHONPATH=/tmp/site
fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$OUT/device.txt"
$PY -c "import torch, sys; print(sys.version.split()[0], 'torch', torch.__version__,
torch.cuda.get_device_name() if torch.cuda.is_available() else 'no CUDA')" | tee -a "$OUT/device.txt"

WV="$PWD/.dev/glove.6B.50d.mosi-vocab.txt"
if [ "${SMOKE:-0}" = 1 ]; then
    ARGS=(--smoke); BENCH=(--epochs 1 --n 256 --seeds 2 --workers 2)
else
    ARGS=(--profile paper); BENCH=(--epochs 5)
fi
[ -n "${BENCH_ARGS:-}" ] && read -r -a BENCH <<< "$BENCH_ARGS"

for part in ${PARTS:-tests reproduce bench}; do
    t0=$(date +%s)
    case $part in
    tests)
        # one pytest per test, so that a failure's traceback is printed before the next test
        # starts (one pytest for all, stopped by its limit, printed a bare F and nothing else)
        echo "== gpu-marked tests" | tee "$OUT/tests.txt"
        mapfile -t ids < <($PY -m pytest -q -p no:cacheprovider -m gpu --collect-only \
            ${TESTS_K:+-k "$TESTS_K"} mosi_lib/tests 2>/dev/null | grep '::')
        for id in "${ids[@]}"; do
            left=$(( ${TESTS_LIMIT:-240} - ($(date +%s) - t0) ))
            if [ "$left" -le 0 ]; then echo "not run (TESTS_LIMIT): $id" | tee -a "$OUT/tests.txt"; continue; fi
            t1=$(date +%s)
            timeout "$left" $PY -m pytest -q -p no:cacheprovider --tb=short --show-capture=no "$id" \
                >"$OUT/test.log" 2>&1
            rc=$?
            [ $rc = 0 ] || tail -40 "$OUT/test.log" | tee -a "$OUT/tests.txt"
            summary=$(grep -E "passed|failed|skipped|error" "$OUT/test.log" | tail -1 | tr -d '=')
            echo "$id: exit $rc after $(( $(date +%s) - t1 )) s (${summary# })" | tee -a "$OUT/tests.txt"
        done
        rm -f "$OUT/test.log"
        echo "tests done after $(( $(date +%s) - t0 )) s" | tee -a "$OUT/tests.txt"
        ;;
    reproduce)
        echo "== reproduce: ${ARGS[*]} ${SET:-} (notebooks 01..05, paper protocol, seed 0)"
        timeout "${REPRODUCE_LIMIT:-420}" $PY -m mosi_lib reproduce "${ARGS[@]}" \
            --run-id "$RUN_ID" --set "data.word_vectors=$WV" system.progress=false ${SET:-} 2>&1 \
            | tee "$OUT/reproduce-$RUN_ID.txt"
        echo "reproduce exit ${PIPESTATUS[0]} after $(( $(date +%s) - t0 )) s" \
            | tee -a "$OUT/reproduce-$RUN_ID.txt"
        # one line per run: training time, median epoch, how the steps and the per-epoch forwards
        # (validation; DEC's target updates) ran, validation accuracy
        $PY - "runs/$RUN_ID" <<'PYEOF' 2>&1 | tee -a "$OUT/reproduce-$RUN_ID.txt"
import csv, json, statistics, sys
from pathlib import Path
for f in sorted(Path(sys.argv[1]).glob("*/metrics.json")):
    m = json.loads(f.read_text())
    h = f.parent / "history.csv"
    rows = list(csv.DictReader(h.open())) if h.exists() else []
    med = "-"
    if rows:
        med = f"{statistics.median(float(r['seconds']) for r in rows) * 1e3:.1f} ms/epoch"
    if rows and rows[0].get("val_seconds"):
        val = statistics.median(float(r["val_seconds"]) for r in rows)
        med += f" ({val * 1e3:.1f} ms of it validation)"
    acc = (m.get("valid") or {}).get("acc_has0")
    print(f"{f.parent.name}: train {m.get('train_seconds', 0):.1f} s, {med}, steps "
          f"{m.get('steps')}, forwards {m.get('val_forwards') or m.get('target_forwards')}, "
          f"valid acc_has0 {acc if acc is None else round(100 * acc, 2)}")
PYEOF
        cp figures/05_comparison_table.md "$OUT/05_comparison_table-$RUN_ID.md" 2>/dev/null
        tar czf "$OUT/runs-$RUN_ID.tgz" --exclude='*.pt' "runs/$RUN_ID"* 2>/dev/null
        ;;
    tail)
        # what an epoch spends outside its steps: a step, the validation, the metrics
        echo "== epoch tail (tools/epoch_tail.py)"
        timeout "${TAIL_LIMIT:-120}" $PY tools/epoch_tail.py --device auto \
            --set "data.word_vectors=$WV" --repeats "$([ "${SMOKE:-0}" = 1 ] && echo 3 || echo 50)" 2>&1 | tee "$OUT/tail.txt"
        echo "tail exit ${PIPESTATUS[0]} after $(( $(date +%s) - t0 )) s" | tee -a "$OUT/tail.txt"
        ;;
    bench)
        echo "== bench: ${BENCH[*]}"
        timeout "${BENCH_LIMIT:-240}" $PY -m mosi_lib.bench "${BENCH[@]}" 2>&1 | tee "$OUT/bench.txt"
        echo "bench exit ${PIPESTATUS[0]} after $(( $(date +%s) - t0 )) s" | tee -a "$OUT/bench.txt"
        ;;
    *) echo "unknown part $part: expected tests, reproduce, tail or bench"; exit 2 ;;
    esac
done
