#!/usr/bin/env bash
# Validate Istio, Gateway API and Kubernetes manifests offline with `mspack lint`.
# Usage: mesh-validator.sh [PATH...] [-- extra mspack lint flags]
# Exits 0 when clean, 1 on findings, 2 on usage or I/O errors (mspack's exit codes).
# Runs the skill's own bin/mspack (checked against bin/VERSION), else mspack from PATH: see
# scripts/find-mspack.sh in the skill folder.
set -euo pipefail
SKILL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../scripts/find-mspack.sh
source "$SKILL_ROOT/scripts/find-mspack.sh"
paths=()
while [ $# -gt 0 ] && [ "$1" != "--" ]; do paths+=("$1"); shift; done
[ "${1:-}" = "--" ] && shift
[ ${#paths[@]} -eq 0 ] && paths=(.)
exec "${MSPACK[@]}" lint "$@" "${paths[@]}"
