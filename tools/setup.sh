#!/usr/bin/env bash
# Installs what building and testing scnym needs, and is a fast no-op when it is all there:
#   - R and the R packages from Debian (no recommends), pandoc, an optimized BLAS;
#   - libtorch 2.11.0 (CPU) from the PyPI torch wheel, into a venv at a stable path.
# Nothing is downloaded when the R package itself is installed: configure only looks.
#
# Environment:
#   SCNYM_TORCH_VENV  where the libtorch venv lives (default: ~/.local/share/scnym/torch-venv)
#   SCNYM_PYTHON      python used to create the venv (default: python3)
set -euo pipefail

venv="${SCNYM_TORCH_VENV:-$HOME/.local/share/scnym/torch-venv}"
python="${SCNYM_PYTHON:-python3}"
torch_version="2.11.0"

apt_packages=(
  r-base-dev r-cran-matrix r-cran-seurat r-cran-seuratobject r-bioc-singlecellexperiment
  r-bioc-summarizedexperiment r-bioc-delayedarray r-cran-testthat r-cran-knitr r-cran-rmarkdown
  r-cran-roxygen2 r-cran-cli r-cran-ggplot2 r-cran-igraph r-cran-leidenbase r-cran-uwot
  r-cran-lintr r-cran-jsonlite r-cran-withr r-bioc-biocneighbors r-bioc-biocparallel r-bioc-bioccheck r-bioc-hdf5array r-cran-batchtools pandoc
  libopenblas0-openmp
)

here=$(cd "$(dirname "$0")" && pwd)
"$here/apt-install.sh" setup "${apt_packages[@]}"
found=$(env -u LIBTORCH -u LIBTORCH_INCLUDE -u LIBTORCH_LIB SCNYM_TORCH_VENV="$venv" \
  "$here/find-libtorch.sh" 2>/dev/null || true)
if ! grep -q "^LIBTORCH_LIB=$venv/" <<<"$found" || ! grep -q "^LIBTORCH_VERSION=$torch_version$" <<<"$found" ||
   ! ls -d "$venv"/lib/python3*/site-packages/nvidia >/dev/null 2>&1; then
  echo "setup: installing libtorch $torch_version (CPU) into $venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install -q --no-deps "torch==$torch_version" \
    "nvidia-cuda-runtime==13.0.96" "nvidia-cuda-cupti==13.0.85"
fi
cargo_bin="${CARGO:-$(command -v cargo || echo "$HOME/.cargo/bin/cargo")}"
[ -x "$cargo_bin" ] || { echo "setup: cargo not found; install Rust with rustup (https://rustup.rs)" >&2; exit 1; }
# The Rust crates (pinned by Cargo.lock) are fetched here, so installing the R package downloads nothing.
"$cargo_bin" fetch --locked --manifest-path "$here/../src/rust/Cargo.toml" -q
echo "setup: ready (libtorch $torch_version in $venv)"
