#!/usr/bin/env bash
# Compares libtorch's float32 GEMM rate inside R with the same libtorch in Python, with R's default
# BLAS, with R forced onto Debian's reference BLAS (the trap of BUILD-NOTES), and with the DEEPBIND
# loader turned off. Output: bench/results/gemm/gemm.jsonl and a summary on stdout.
# Needs: the package installed (make install). Python's `import torch` needs the full wheel with its
# CUDA dependencies (4.6 GB), which the CPU-only setup venv leaves out: a separate venv is made here
# (SCNYM_BENCH_TORCH_VENV) with the same torch==2.11.0, hence the same libtorch_cpu.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out="$here/../results/gemm"
mkdir -p "$out"
venv="${SCNYM_BENCH_TORCH_VENV:-$HOME/.local/share/scnym/bench-torch-venv}"
if ! "$venv/bin/python" -c 'import torch' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q torch==2.11.0 numpy
fi
refblas=/usr/lib/x86_64-linux-gnu/blas/libblas.so.3
: > "$out/gemm.jsonl"
for threads in 1 2; do
  for rep in 1 2 3; do
    "$venv/bin/python" "$here/gemm.py" 1024 "$threads" | sed "s/^{/{\"config\": \"python\", \"rep\": $rep, /" >> "$out/gemm.jsonl"
    Rscript "$here/gemm.R" 1024 "$threads" | sed "s/^{/{\"config\": \"R default BLAS\", \"rep\": $rep, /" >> "$out/gemm.jsonl"
    LD_PRELOAD=$refblas Rscript "$here/gemm.R" 1024 "$threads" |
      sed "s/^{/{\"config\": \"R reference BLAS\", \"rep\": $rep, /" >> "$out/gemm.jsonl"
    LD_PRELOAD=$refblas SCNYM_DEEPBIND=0 Rscript "$here/gemm.R" 1024 "$threads" 2>/dev/null |
      sed "s/^{/{\"config\": \"R reference BLAS, no DEEPBIND\", \"rep\": $rep, /" >> "$out/gemm.jsonl"
  done
done
Rscript -e '
  x <- jsonlite::stream_in(file(commandArgs(TRUE)[1]), verbose = FALSE)
  s <- aggregate(gflops ~ config + threads, data = x, FUN = median)
  py <- s$gflops[s$config == "python"][match(s$threads, s$threads[s$config == "python"])]
  s$python_over_r <- round(py / s$gflops, 2)
  print(s[order(s$threads, s$config), ], row.names = FALSE)
' "$out/gemm.jsonl" | tee "$out/summary.txt"
