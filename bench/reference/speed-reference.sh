#!/usr/bin/env bash
# Speed of the reference scNym at scale, on synth_10k (10,000 training cells of
# domain A, 10,000 target cells of domain B, 2,000 genes; bench/reference/prepare-data.sh).
#
# For each thread count T in $THREAD_LIST (default "1 2"):
#   1. harness run, --config default --epochs $EPOCHS (default 3), seed 0, --threads T
#      -> $OUT/speed_synth_10k_t<T>/  (metrics.json with per-epoch wall + CPU times,
#         predict_time_s for the 10,000 target cells through scnym_api(task="predict"))
#   2. ig_reference.py on that model: Predicter forward throughput on the 10,000 target
#      cells and scnym.interpret.IntegratedGradient on $IG_CELLS cells x $IG_STEPS steps
#      -> $OUT/speed_synth_10k_t<T>/ig.json
# Then collects everything into $OUT/speed_synth_10k.json.
#
# Env: SCNYM_REF_VENV, SCNYM_BENCH_DIR, SCNYM_REF_OUT, THREAD_LIST, EPOCHS, IG_CELLS,
#      IG_STEPS, FORCE=1 (rerun even if results exist)
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
VENV="${SCNYM_REF_VENV:-$HOME/.local/share/scnym/ref-venv}"
BENCH="${SCNYM_BENCH_DIR:-$HOME/.cache/scnym/bench-data}"
OUT="${SCNYM_REF_OUT:-$REPO/bench/results/reference}"
THREAD_LIST="${THREAD_LIST:-1 2}"
EPOCHS="${EPOCHS:-3}"
IG_CELLS="${IG_CELLS:-20}"
IG_STEPS="${IG_STEPS:-100}"
PY="$VENV/bin/python"
DATA="$BENCH/synth_10k"
[ -f "$DATA/DONE" ] || { echo "no $DATA; run bench/reference/prepare-data.sh" >&2; exit 1; }

for T in $THREAD_LIST; do
    d="$OUT/speed_synth_10k_t$T"
    export OMP_NUM_THREADS="$T" MKL_NUM_THREADS="$T" OPENBLAS_NUM_THREADS="$T" NUMEXPR_NUM_THREADS="$T"
    if [ -f "$d/metrics.json" ] && [ -f "$d/ig.json" ] && [ "${FORCE:-0}" != 1 ]; then
        echo "[skip] threads $T: $d exists"; continue
    fi
    rm -rf "$d"; mkdir -p "$d"
    echo "[run ] synth_10k threads $T epochs $EPOCHS ($(date -Is))"
    start=$(date +%s.%N)
    nice -n 5 "$PY" "$HERE/run_reference.py" --data "$DATA" --train-domains A --target-domains B \
        --config default --epochs "$EPOCHS" --threads "$T" --seed 0 --no-embedding --out "$d" \
        > "$d/run.log" 2>&1
    echo "{\"wall_time_s\": $(echo "$(date +%s.%N) - $start" | bc), \"threads\": $T}" > "$d/timing.json"
    echo "[ig  ] threads $T: $IG_CELLS cells x $IG_STEPS steps"
    nice -n 5 "$PY" "$HERE/ig_reference.py" --model "$d/model" --data "$DATA" --domains B \
        --n-cells "$IG_CELLS" --steps "$IG_STEPS" --threads "$T" --out "$d/ig.json" \
        > "$d/ig.log" 2>&1
    find "$d/model" -maxdepth 1 -name 'model_weights_[0-9]*.pkl' -delete
    { echo "model/*.pkl"; echo "probabilities.tsv"; echo "predictions.tsv";
      find "$d" -type f -size +2M -printf '%P\n'; } | sort -u > "$d/.gitignore"
done

"$PY" - "$OUT" $THREAD_LIST <<'PYEOF'
import json, sys, os, datetime, statistics
out, threads = sys.argv[1], [int(t) for t in sys.argv[2:]]
runs = []
for t in threads:
    d = os.path.join(out, f"speed_synth_10k_t{t}")
    m = json.load(open(os.path.join(d, "metrics.json")))
    ig = json.load(open(os.path.join(d, "ig.json")))
    ep = m["per_epoch_time_s"]
    runs.append({
        "threads": t,
        "seconds_per_epoch": {"median": statistics.median(ep), "all": ep},
        "cpu_seconds_per_epoch": {"median": statistics.median(m["per_epoch_cpu_time_s"]),
                                  "all": m["per_epoch_cpu_time_s"]},
        "steps_per_epoch": m["steps_per_epoch"],
        "n_train_cells": m["n_train_cells"],
        "n_target_cells": m["n_target_cells"],
        "n_genes": m["n_genes"],
        "accuracy_after_epochs": m["accuracy"],
        "epochs_run": m["epochs_run"],
        "predict_cells_per_s": m["n_target_cells"] / m["predict_time_s"],
        "predict_time_s": m["predict_time_s"],
        "predict_forward_cells_per_s": ig["predict_forward_cells_per_s"],
        "ig_cells_per_s": ig["ig_cells_per_s"],
        "ig_steps": ig["ig_steps"],
        "ig_n_cells": ig["ig_n_cells"],
        "ig_completeness_rel_err_median": ig["ig_completeness_rel_err_median"],
        "loadavg_1min_start": m["loadavg_1min_start"],
        "loadavg_1min_end": m["loadavg_1min_end"],
        "n_cpus": m["n_cpus"],
    })
res = {
    "data": "synth_10k (gen_synth.py --n-cells 20000 --n-genes 2000 --n-domains 2 --seed 0; train A, target B)",
    "config": "default",
    "implementation": f"scnym {m['versions']['scnym']} (PyPI) via run_scnym.py",
    "threads": threads,
    "runs": runs,
    "torch": m["versions"]["torch"],
    "python": m["versions"]["python"],
    "timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    "notes": ("seconds_per_epoch = wall time of train_epoch + val_epoch (harness); "
              "predict_cells_per_s = 10,000 target cells / scnym_api(task='predict') wall time "
              "(model load, gene alignment, forward pass, embedding); "
              "predict_forward_cells_per_s = Predicter.predict only; "
              "ig = scnym.interpret.IntegratedGradient, zero baseline, predicted class. "
              "Machine shared with other jobs: see loadavg."),
}
json.dump(res, open(os.path.join(out, "speed_synth_10k.json"), "w"), indent=2)
print(json.dumps(res, indent=2))
PYEOF
