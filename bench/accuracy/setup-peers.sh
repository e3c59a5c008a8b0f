#!/usr/bin/env bash
# Sets up what the accuracy benchmark's peers need; a fast no-op when it is all there.
#   - R peers: Debian's r-bioc-singler (SingleR) and r-bioc-scuttle when missing (Seurat comes
#     with `make setup`).
#   - Python peers: a bench-only venv at ${SCNYM_BENCH_VENV:-$HOME/.cache/scnym/bench-venv}
#     with the pinned versions of requirements-peers.txt (scikit-learn, CellTypist, scvi-tools).
#     torch is PyPI's torch 2.11.0 wheel (the only Linux build on PyPI is the CUDA one). Its
#     Python module links libtorch_cuda, so `import torch` needs the NVIDIA library wheels
#     (cuDNN, cuBLAS, NCCL, ...: about 3 GB, the venv is about 5 GB); triton, cuda-bindings and
#     cuda-toolkit are not needed on CPU and are left out. The whole list is installed with
#     --no-deps, so pip resolves nothing. The list was made with
#     `pip install --dry-run --ignore-installed --report` of scikit-learn, celltypist 1.7.1,
#     scvi-tools 1.4.2 and torch 2.11.0 on Python 3.11, less those four; scikit-learn is pinned
#     to 1.7.2 because CellTypist 1.7.1 passes LogisticRegression(multi_class =), which
#     scikit-learn 1.9.1 no longer accepts. First run: about 2 minutes (downloads), then a no-op.
#
# Environment: SCNYM_BENCH_VENV (venv path), SCNYM_PYTHON (python that creates it; default python3),
#              SCNYM_BENCH_SKIP_R=1 (skip the apt step).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv="${SCNYM_BENCH_VENV:-$HOME/.cache/scnym/bench-venv}"
python="${SCNYM_PYTHON:-python3}"
req="$here/requirements-peers.txt"

if [ "${SCNYM_BENCH_SKIP_R:-0}" != 1 ]; then
  "$here/../../tools/apt-install.sh" setup-peers r-bioc-singler r-bioc-scuttle
fi

stamp="$venv/.scnym-bench-requirements"
if [ -f "$stamp" ] && cmp -s "$stamp" "$req" && "$venv/bin/python" -c 'import sklearn, celltypist, scvi' 2>/dev/null; then
  echo "setup-peers: ready ($venv)"
  exit 0
fi
echo "setup-peers: installing the Python peers into $venv (pinned, --no-deps)"
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$req"
# Thread caps for the import check as for the runs (2-core shared machine).
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
  "$venv/bin/python" -c 'import torch, sklearn, celltypist, scvi; print("setup-peers: torch", torch.__version__, "scvi-tools", scvi.__version__, "celltypist", celltypist.__version__, "scikit-learn", sklearn.__version__)'
cp "$req" "$stamp"
echo "setup-peers: ready ($venv)"
