#!/usr/bin/env bash
# Validate Istio, Gateway API and Kubernetes manifests offline with `mspack lint`.
# Usage: mesh-validator.sh [PATH...] [-- extra mspack lint flags]
# Exits 0 when clean, 1 on findings, 2 on usage or I/O errors (mspack's exit codes).
set -euo pipefail
if ! command -v mspack >/dev/null 2>&1; then
  echo "mesh-validator: mspack is not on PATH (install it: cargo install --path crates/mspack)" >&2
  exit 2
fi
paths=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do paths+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#paths[@]} -eq 0 ] && paths=(.)
exec mspack lint "$@" "${paths[@]}"
