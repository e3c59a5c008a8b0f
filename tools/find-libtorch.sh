#!/usr/bin/env bash
# Finds libtorch and prints shell assignments LIBTORCH_INCLUDE=... LIBTORCH_LIB=... LIBTORCH_VERSION=...
# (LIBTORCH_INCLUDE is the directory holding include/, LIBTORCH_LIB the one holding lib/, as torch-sys wants).
# Search order:
#   1. LIBTORCH (a libtorch root: include/ and lib/ under it)
#   2. LIBTORCH_INCLUDE and LIBTORCH_LIB (split layouts)
#   3. the venv made by tools/setup.sh (SCNYM_TORCH_VENV, default ~/.local/share/scnym/torch-venv)
#   4. the torch package of a Python on the PATH (python3 -c 'import torch')
# Prints what it looked at on stderr and exits 1 when nothing usable is found.
set -u
tried=()
emit() { # $1 include root, $2 lib root
  local vh="$1/include/torch/headeronly/version.h"
  [ -f "$vh" ] || vh="$1/include/torch/csrc/api/include/torch/version.h"
  if [ -f "$2/lib/libtorch_cpu.so" ] && [ -f "$vh" ]; then
    local v
    v=$(sed -n 's/^#define TORCH_VERSION "\{0,1\}\([0-9][0-9.]*\).*/\1/p' "$vh" | head -n 1)
    [ -n "$v" ] || v=$(printf '%s.%s.%s' \
      "$(sed -n 's/^#define TORCH_VERSION_MAJOR \([0-9]*\).*/\1/p' "$vh")" \
      "$(sed -n 's/^#define TORCH_VERSION_MINOR \([0-9]*\).*/\1/p' "$vh")" \
      "$(sed -n 's/^#define TORCH_VERSION_PATCH \([0-9]*\).*/\1/p' "$vh")")
    printf 'LIBTORCH_INCLUDE=%s\nLIBTORCH_LIB=%s\nLIBTORCH_VERSION=%s\n' "$1" "$2" "$v"
    exit 0
  fi
  tried+=("$3: include $1/include, lib $2/lib/libtorch_cpu.so (not found)")
}
if [ -n "${LIBTORCH:-}" ]; then emit "$LIBTORCH" "$LIBTORCH" "LIBTORCH"; fi
if [ -n "${LIBTORCH_INCLUDE:-}" ] && [ -n "${LIBTORCH_LIB:-}" ]; then
  emit "$LIBTORCH_INCLUDE" "$LIBTORCH_LIB" "LIBTORCH_INCLUDE + LIBTORCH_LIB"
fi
venv="${SCNYM_TORCH_VENV:-$HOME/.local/share/scnym/torch-venv}"
for d in "$venv"/lib/python3*/site-packages/torch; do
  [ -d "$d" ] && emit "$d" "$d" "setup venv"
done
tried+=("setup venv: $venv (no torch under lib/python3*/site-packages)")
for py in python3 python; do
  if command -v "$py" >/dev/null 2>&1; then
    d=$("$py" -c 'import os, torch; print(os.path.dirname(torch.__file__))' 2>/dev/null) && [ -n "$d" ] &&
      emit "$d" "$d" "Python torch ($py)"
    tried+=("Python torch ($py): import torch failed")
  fi
done
printf '%s\n' "${tried[@]}" >&2
exit 1
