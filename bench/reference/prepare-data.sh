#!/usr/bin/env bash
# Derived data for the reference benchmarks, written OUTSIDE the repo to
# ${SCNYM_BENCH_DIR:-$HOME/.cache/scnym/bench-data}. Idempotent (--force to redo).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${SCNYM_REF_VENV:-$HOME/.local/share/scnym/ref-venv}"
exec nice -n 5 "$VENV/bin/python" "$HERE/prepare_data.py" "$@"
