#!/usr/bin/env bash
# Run the reference scNym (PyPI 0.3.2, via the shared harness run_scnym.py)
# on named benchmark tasks, serially, one thread, niced.
#
# Usage: bench/reference/run-reference.sh [TASK[:SEEDS] ...]
#   default: kang_ctrl_to_stim:0,1,2 kang_stim_to_ctrl:0,1,2 cellbench_unseen:0
#   TASK = kang_ctrl_to_stim | kang_stim_to_ctrl | cellbench_unseen
#          | cellbench_unseen_bs128 | cellbench_unseen_bs64  (batch size 128 / 64:
#            the reference needs >= 1 full batch of 256 labeled training cells and
#            cellbench_unseen has only 240 labeled cells; see README)
#
# Env:
#   SCNYM_REF_VENV     reference venv (bench/reference/setup-reference.sh)
#   SCNYM_DATA_DIR     shared data sets (default /work/shared/data)
#   SCNYM_BENCH_DIR    derived data (bench/reference/prepare-data.sh)
#   SCNYM_REF_HARNESS  run_scnym.py (default /work/shared/tools/reference-scnym/run_scnym.py)
#   SCNYM_REF_OUT      results root (default <repo>/bench/results/reference)
#   THREADS            torch threads (default 1)
#   FORCE=1            rerun even if metrics.json already exists
#
# Output per run: $SCNYM_REF_OUT/<task>_seed<k>/
#   predictions.tsv, probabilities.tsv, metrics.json   (from the harness + wrapper)
#   timing.json        external wall time, start/end, exit code, load average
#   run.log            harness stdout/stderr
#   model/, embedding.tsv.gz   large files are git-ignored (see .gitignore)
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${SCNYM_REF_VENV:-$HOME/.local/share/scnym/ref-venv}"
DATA="${SCNYM_DATA_DIR:-/work/shared/data}"
BENCH="${SCNYM_BENCH_DIR:-$HOME/.cache/scnym/bench-data}"
OUTROOT="${SCNYM_REF_OUT:-$REPO/bench/results/reference}"
THREADS="${THREADS:-1}"
PY="$VENV/bin/python"

[ -x "$PY" ] || { echo "no reference venv at $VENV; run bench/reference/setup-reference.sh" >&2; exit 1; }

export OMP_NUM_THREADS="$THREADS" MKL_NUM_THREADS="$THREADS" OPENBLAS_NUM_THREADS="$THREADS" \
       NUMEXPR_NUM_THREADS="$THREADS" NUMBA_NUM_THREADS="$THREADS"

task_args() {  # prints the harness arguments of a task
    case "$1" in
        kang_ctrl_to_stim) echo "--data $DATA/kang_ifnb_seurat2800 --train-domains ctrl --target-domains stim --config default" ;;
        kang_stim_to_ctrl) echo "--data $DATA/kang_ifnb_seurat2800 --train-domains stim --target-domains ctrl --config default" ;;
        cellbench_unseen) echo "--data $BENCH/cellbench_unseen --train-domains celseq2_3cl --target-domains celseq2_5cl_p1,celseq2_5cl_p2,celseq2_5cl_p3 --config new_identity_discovery" ;;
        cellbench_unseen_bs128) echo "--data $BENCH/cellbench_unseen --train-domains celseq2_3cl --target-domains celseq2_5cl_p1,celseq2_5cl_p2,celseq2_5cl_p3 --config new_identity_discovery --batch-size 128" ;;
        cellbench_unseen_bs64) echo "--data $BENCH/cellbench_unseen --train-domains celseq2_3cl --target-domains celseq2_5cl_p1,celseq2_5cl_p2,celseq2_5cl_p3 --config new_identity_discovery --batch-size 64" ;;
        *) return 1 ;;
    esac
}

TASKS=("$@")
[ ${#TASKS[@]} -gt 0 ] || TASKS=(kang_ctrl_to_stim:0,1,2 kang_stim_to_ctrl:0,1,2 cellbench_unseen:0)

# expand TASK:SEEDS into task/seed pairs, in the given order
RUNS=()
for ts in "${TASKS[@]}"; do
    t="${ts%%:*}"; s="0"; [ "$ts" != "$t" ] && s="${ts#*:}"
    task_args "$t" >/dev/null || { echo "unknown task $t" >&2; exit 2; }
    for k in ${s//,/ }; do RUNS+=("$t $k"); done
done

n_fail=0
for r in "${RUNS[@]}"; do
    set -- $r; t="$1"; k="$2"
    out="$OUTROOT/${t}_seed${k}"
    if [ -f "$out/metrics.json" ] && [ "${FORCE:-0}" != 1 ]; then
        echo "[skip] $t seed $k: $out/metrics.json exists"; continue
    fi
    rm -rf "$out"; mkdir -p "$out"
    args=$(task_args "$t")
    echo "[run ] $t seed $k -> $out  ($(date -Is))"
    start=$(date +%s.%N); start_iso=$(date -Is); load0=$(cut -d' ' -f1 /proc/loadavg)
    # shellcheck disable=SC2086
    nice -n 5 "$PY" "$HERE/run_reference.py" $args --threads "$THREADS" --seed "$k" --out "$out" \
        > "$out/run.log" 2>&1
    rc=$?
    end=$(date +%s.%N); load1=$(cut -d' ' -f1 /proc/loadavg)
    wall=$(echo "$end - $start" | bc)
    cat > "$out/timing.json" <<JSON
{
  "task": "$t",
  "seed": $k,
  "threads": $THREADS,
  "exit_code": $rc,
  "wall_time_s": $wall,
  "start": "$start_iso",
  "end": "$(date -Is)",
  "loadavg_1min_start": $load0,
  "loadavg_1min_end": $load1,
  "command": "nice -n 5 python bench/reference/run_reference.py $args --threads $THREADS --seed $k --out <out>"
}
JSON
    # per-epoch weight snapshots (14 MB each for Kang) are not needed: keep
    # 00_best_model_weights.pkl, 02_best_dan_weights.pkl, 01_final_model_weights.pkl
    find "$out/model" -maxdepth 1 -name 'model_weights_[0-9]*.pkl' -delete 2>/dev/null
    # keep the committed results small: ignore model weights and any file over 2 MB
    {
        echo "model/*.pkl"
        echo "model/*.npz"
        find "$out" -type f -size +2M -printf '%P\n'
    } | sort -u > "$out/.gitignore"
    # trim very long logs (progress bars) to head + tail
    if [ "$(stat -c %s "$out/run.log")" -gt 500000 ]; then
        { head -c 200000 "$out/run.log"; echo; echo "[... trimmed ...]"; tail -c 200000 "$out/run.log"; } > "$out/run.log.tmp"
        mv "$out/run.log.tmp" "$out/run.log"
    fi
    if [ $rc -eq 0 ]; then
        echo "[done] $t seed $k: wall ${wall}s"
    else
        echo "[FAIL] $t seed $k: exit $rc after ${wall}s (see $out/run.log)"; n_fail=$((n_fail + 1))
    fi
done
exit $n_fail
