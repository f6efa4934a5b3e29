#!/usr/bin/env bash
# Scaffold a new microservice with `mspack new` (all arguments are passed through).
# Usage: scaffold-microservice.sh NAME [--namespace NS] [--port PORT] [--multicluster ambient|sidecar]
#                                 [--messaging nats|none] [--store sqlite|postgres]
#                                 [--output DIR] [--force] [--dry-run]
# Runs the skill's own bin/mspack (checked against bin/VERSION), else mspack from PATH, else
# builds it from this checkout: see find-mspack.sh beside this script.
set -euo pipefail
SKILL_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=find-mspack.sh
source "$SKILL_ROOT/scripts/find-mspack.sh"
exec "${MSPACK[@]}" new "$@"
