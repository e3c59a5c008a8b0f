#!/usr/bin/env bash
# Runs cargo on src/rust with the environment every build of this project uses, so that the
# persistent target directory is reused (a different LIBTORCH, RUSTFLAGS or R_INCLUDE_DIR would
# rebuild torch-sys: about 5 minutes). Usage: tools/cargo.sh test --release -p scnym-core
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cargo_bin="${CARGO:-$(command -v cargo || echo "$HOME/.cargo/bin/cargo")}"
eval "$("$here/find-libtorch.sh")"
# torch-sys needs LIBTORCH set; LIBTORCH_INCLUDE/LIBTORCH_LIB override its include/ and lib/ parts.
export LIBTORCH="$LIBTORCH_LIB" LIBTORCH_INCLUDE LIBTORCH_LIB
unset LIBTORCH_USE_PYTORCH
export LIBTORCH_BYPASS_VERSION_CHECK=1
export CARGO_TARGET_DIR="${SCNYM_CARGO_TARGET_DIR:-$HOME/.cache/scnym/cargo-target}"
export R_INCLUDE_DIR="${R_INCLUDE_DIR:-$(Rscript -e 'cat(R.home("include"))' 2>/dev/null || echo /usr/share/R/include)}"
cd "$here/../src/rust"
exec "$cargo_bin" "$@"
