#!/usr/bin/env bash
# The atlas-scale run behind bench/results/scale/atlas.txt: writes the HDF5-backed data sets
# (unless present), then trains and predicts from them with bench/scale/atlas.R, one process per
# step, sampling every 2 s the memory of the step's process and its BiocParallel workers: their
# summed proportional set size (PSS: a page shared by forked workers counts once in all) and
# their summed resident set size (which counts a shared page once per process).
# Usage: bench/scale/atlas.sh DATA_DIR [STEP...]
# Steps: data, train, predict1m, predict10m (2 workers), predict10m-serial (default: all).
# Appends to standard output.
set -euo pipefail
dir=$1
shift
steps=${*:-data train predict1m predict10m predict10m-serial}
here=$(cd "$(dirname "$0")" && pwd)
run() {
  Rscript "$here/atlas.R" "$@" &
  local pid=$! peak_rss=0 peak_pss=0 pids rss pss
  while kill -0 "$pid" 2>/dev/null; do
    pids=$(ps -o pid= -p "$pid" --ppid "$pid" 2>/dev/null || true)
    rss=$(ps -o rss= -p "$pid" --ppid "$pid" 2>/dev/null | awk '{t += $1} END {print t + 0}' ||
          true)
    pss=$(for p in $pids; do cat "/proc/$p/smaps_rollup" 2>/dev/null || true; done |
          awk '/^Pss:/ {t += $2} END {print t + 0}')
    [ "$rss" -gt "$peak_rss" ] && peak_rss=$rss
    [ "$pss" -gt "$peak_pss" ] && peak_pss=$pss
    sleep 2
  done
  wait "$pid"
  echo "  process and workers, peak of the summed PSS: $((peak_pss / 1024)) MB; of the summed RSS: $((peak_rss / 1024)) MB"
}
for step in $steps; do
  case $step in
    data)
      [ -f "$dir/ref1m/sce.rds" ] || Rscript "$here/make_atlas.R" "$dir/ref1m" 1000000 reference
      [ -f "$dir/query200k/sce.rds" ] || Rscript "$here/make_atlas.R" "$dir/query200k" 200000 query
      ;;
    train) run train "$dir/ref1m" "$dir/model1m.rds" ;;
    predict1m) run predict "$dir/model1m.rds" "$dir/query200k" 5 2 ;;
    predict10m) run predict "$dir/model1m.rds" "$dir/query200k" 50 2 ;;
    predict10m-serial) run predict "$dir/model1m.rds" "$dir/query200k" 50 1 ;;
  esac
done
