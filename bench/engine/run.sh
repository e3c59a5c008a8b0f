#!/usr/bin/env bash
# Engine speed benchmark (scnym-core, no R): seconds per training epoch (median of $EPOCHS),
# prediction and integrated-gradients throughput (100 steps), on
#   synth_10k: 10,000 training (domain A) + 10,000 target (domain B) cells x 2,000 genes, made by
#              bench/reference/prepare-data.sh with the reference's gen_synth.py;
#   kang:      /work/shared/data/kang_ifnb_seurat2800, ctrl -> stim (14,053 genes, real sparsity).
# at libtorch thread counts $THREAD_LIST (default "1 2"), default preset, seed 0.
# Writes bench/results/engine/<data>_t<T>.json, and <data>_t2_passive.json for a 2-thread run with
# OMP_WAIT_POLICY=PASSIVE (libgomp's default spinning collapses on an oversubscribed machine),
# then bench/results/engine/summary.json comparing with bench/results/reference/speed_synth_10k.json.
#
# Env: SCNYM_BENCH_DIR (default ~/.cache/scnym/bench-data), SCNYM_DATA_DIR (default
#      ../shared/data next to the repository), EPOCHS (3), THREAD_LIST ("1 2"), DATASETS
#      ("synth_10k kang").
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
BENCH="${SCNYM_BENCH_DIR:-$HOME/.cache/scnym/bench-data}"
DATA_DIR="${SCNYM_DATA_DIR:-$REPO/../shared/data}"
OUT="$REPO/bench/results/engine"
EPOCHS="${EPOCHS:-3}"
THREAD_LIST="${THREAD_LIST:-1 2}"
DATASETS="${DATASETS:-synth_10k kang}"
mkdir -p "$OUT"

"$REPO/tools/cargo.sh" build --release -p scnym-core --example bench_engine
target="${SCNYM_CARGO_TARGET_DIR:-$HOME/.cache/scnym/cargo-target}"
# a private copy: other builds may clean the shared target directory meanwhile
bin="$(mktemp -d)/bench_engine"
cp "$target/release/examples/bench_engine" "$bin"

run() { # $1 name, $2 threads, $3 suffix, remaining: bench_engine arguments
    local name="$1" t="$2" suffix="$3"
    shift 3
    echo "[bench] $name threads $t$suffix ($(date -Is), load $(cut -d' ' -f1-3 /proc/loadavg))"
    "$bin" "$@" --threads "$t" --epochs "$EPOCHS" --out "$OUT/${name}_t${t}${suffix}.json" \
        > "$OUT/${name}_t${t}${suffix}.log" 2>&1 || { echo "failed: see $OUT/${name}_t${t}${suffix}.log" >&2; return 1; }
}

for name in $DATASETS; do
    case "$name" in
        synth_10k)
            [ -f "$BENCH/synth_10k/matrix.mtx.gz" ] || { echo "no $BENCH/synth_10k; run bench/reference/prepare-data.sh" >&2; continue; }
            args=(--data "$BENCH/synth_10k" --train-domains A --target-domains B --ig-cells 200) ;;
        kang)
            [ -f "$DATA_DIR/kang_ifnb_seurat2800/matrix.mtx.gz" ] || { echo "no $DATA_DIR/kang_ifnb_seurat2800" >&2; continue; }
            args=(--data "$DATA_DIR/kang_ifnb_seurat2800" --train-domains ctrl --target-domains stim --ig-cells 200) ;;
        *) echo "unknown data set $name" >&2; continue ;;
    esac
    for t in $THREAD_LIST; do
        OMP_NUM_THREADS="$t" run "$name" "$t" "" "${args[@]}"
    done
    if [[ " $THREAD_LIST " == *" 2 "* ]]; then
        OMP_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE run "$name" 2 "_passive" "${args[@]}"
    fi
done
rm -rf "$(dirname "$bin")"
python3 "$HERE/summarise.py" "$OUT" "$REPO/bench/results/reference/speed_synth_10k.json" > "$OUT/summary.json"
cat "$OUT/summary.json"
