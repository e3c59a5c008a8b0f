#!/usr/bin/env bash
# Create the Python environment for the reference scNym (PyPI scnym 0.3.2).
# Idempotent: if the venv already imports scnym 0.3.2 it exits at once.
#
#   SCNYM_REF_VENV   venv location (default: $HOME/.local/share/scnym/ref-venv)
#   SCNYM_REF_PY38   a CPython 3.8 interpreter (default: ~/.pyenv/versions/3.8.18/bin/python)
#
# Follows /work/shared/tools/reference-scnym/README.md: python 3.8 venv,
# pip<24.1, scnym==0.3.2 (pulls torch 1.4.0), protobuf==3.20.3.
set -euo pipefail

VENV="${SCNYM_REF_VENV:-$HOME/.local/share/scnym/ref-venv}"
PY38="${SCNYM_REF_PY38:-$HOME/.pyenv/versions/3.8.18/bin/python}"
CHECK='import scnym, torch, google.protobuf as pb; import scnym.api; assert scnym.__version__ == "0.3.2", scnym.__version__; print("scnym", scnym.__version__, "torch", torch.__version__, "protobuf", pb.__version__)'

if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "$CHECK" >/dev/null 2>&1; then
    echo "reference venv ready: $VENV"
    "$VENV/bin/python" -c "$CHECK"
    exit 0
fi

if [ ! -x "$PY38" ]; then
    echo "no Python 3.8 at $PY38 (set SCNYM_REF_PY38)" >&2
    exit 1
fi

mkdir -p "$(dirname "$VENV")"
[ -x "$VENV/bin/python" ] || "$PY38" -m venv "$VENV"
NICE="nice -n 5"
$NICE "$VENV/bin/pip" install --upgrade "pip<24.1" wheel setuptools
$NICE "$VENV/bin/pip" install "scnym==0.3.2"
$NICE "$VENV/bin/pip" install "protobuf==3.20.3"

"$VENV/bin/python" -c "$CHECK"
echo "reference venv ready: $VENV"
