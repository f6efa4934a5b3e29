#!/usr/bin/env bash
# Run checkov from the project's tool venv (installed on first use by scripts/manifest-tools.sh).
# Usage: scripts/checkov.sh <checkov args...>
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(bash "$root/scripts/manifest-tools.sh")"
case "$venv" in /*) ;; *) venv="$root/$venv" ;; esac
exec "$venv/bin/checkov" "$@"
