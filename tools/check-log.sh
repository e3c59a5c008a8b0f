#!/usr/bin/env bash
# Fails unless R CMD check's log reports 0 errors and 0 warnings (NOTEs are explained in DEVELOPMENT.md).
set -euo pipefail
log="$1"
status=$(grep -E '^Status:' "$log" || true)
echo "R CMD check: ${status:-no status line}"
grep -q -E '^Status: (OK|[0-9]+ NOTEs?)$' "$log" || { grep -B2 -A20 -E '(ERROR|WARNING)$' "$log" | head -80; exit 1; }
