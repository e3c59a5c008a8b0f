#!/usr/bin/env bash
# Builds the Rust staticlib (libscnym.a) for the R package in the persistent target directory.
# With a shared target directory cargo's mtime check can keep a library built from another copy of
# the sources (R CMD check unpacks a tarball with older mtimes): when the sources' hash differs
# from the last build's, the two project crates are cleaned first (seconds, not a full rebuild).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
target="${SCNYM_CARGO_TARGET_DIR:-$HOME/.cache/scnym/cargo-target}"
mkdir -p "$target"
hash=$(cd "$here/../src/rust" && find . -path ./target -prune -o -type f \( -name '*.rs' -o -name '*.toml' -o -name 'Cargo.lock' \) -print |
  LC_ALL=C sort | xargs sha256sum | sha256sum | cut -c1-64)
stamp="$target/scnym-sources.sha256"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$hash" ]; then
  "$here/cargo.sh" clean --release -p scnym-r -p scnym-core >/dev/null 2>&1 || true
fi
# --offline: installing the package never downloads; tools/setup.sh fetched the crates.
if ! "$here/cargo.sh" build --release --offline --locked -p scnym-r; then
  echo "scnym: building the Rust library failed. If crates are missing, fetch them once with" >&2
  echo "  tools/setup.sh   (or: cargo fetch --locked --manifest-path src/rust/Cargo.toml)" >&2
  exit 1
fi
echo "$hash" > "$stamp"
