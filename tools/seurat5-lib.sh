#!/usr/bin/env bash
# Builds SeuratObject 5.3.0 and Matrix 1.6-5 from DEPS (default ../shared/deps) into a private
# library cached under ~/.cache/scnym/seurat5-<hash of the tarballs' sha256>, and prints its path.
# A warm cache costs nothing. Their other dependencies come from Debian (see DEPS/README.md).
# Usage: tools/seurat5-lib.sh [DEPS]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
deps=${1:-$here/../../shared/deps}
matrix=$deps/Matrix_1.6-5.tar.gz
seurat=$deps/SeuratObject_5.3.0.tar.gz
for f in "$matrix" "$seurat"; do
  [ -f "$f" ] || { echo "seurat5-lib: $f is missing" >&2; exit 1; }
done
"$here/apt-install.sh" seurat5-lib r-cran-spam r-cran-dotcall64 >&2
key=$(cat "$matrix" "$seurat" | sha256sum | cut -c1-16)
lib=${SCNYM_CACHE_DIR:-$HOME/.cache/scnym}/seurat5-$key
if [ ! -f "$lib/.complete" ]; then
  echo "seurat5-lib: building Matrix 1.6-5 and SeuratObject 5.3.0 into $lib (about 6 minutes)" >&2
  rm -rf "$lib.tmp"
  mkdir -p "$lib.tmp"
  R_LIBS= R CMD INSTALL --no-test-load -l "$lib.tmp" "$matrix" >&2
  R_LIBS="$lib.tmp" R CMD INSTALL --no-test-load -l "$lib.tmp" "$seurat" >&2
  touch "$lib.tmp/.complete"
  rm -rf "$lib"
  mv "$lib.tmp" "$lib"
fi
echo "$lib"
