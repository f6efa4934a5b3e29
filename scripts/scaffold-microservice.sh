#!/usr/bin/env bash
# Scaffold a new microservice with `mspack new` (all arguments are passed through).
# Usage: scaffold-microservice.sh NAME [--namespace NS] [--port PORT] [--messaging nats|none] ...
set -euo pipefail
if ! command -v mspack >/dev/null 2>&1; then
  echo "scaffold-microservice: mspack is not on PATH (install it: cargo install --path crates/mspack)" >&2
  exit 2
fi
exec mspack new "$@"
