#!/usr/bin/env bash
# Scaffold a new microservice with `mspack new` (all arguments are passed through).
# Usage: scaffold-microservice.sh NAME [--namespace NS] [--port PORT] [--multicluster]
#                                 [--messaging nats|none] [--store sqlite|postgres]
#                                 [--output DIR] [--force] [--dry-run]
# Uses `mspack` from PATH, or builds it from this checkout when it is not installed.
set -euo pipefail
if command -v mspack >/dev/null 2>&1; then
  exec mspack new "$@"
fi
root="$(cd "$(dirname "$0")/.." && pwd)"
if [[ -f "$root/crates/mspack/Cargo.toml" ]] && command -v cargo >/dev/null 2>&1; then
  exec cargo run --quiet --release --manifest-path "$root/Cargo.toml" -p mspack -- new "$@"
fi
echo "scaffold-microservice: mspack is not on PATH (install it: cargo install --path crates/mspack)" >&2
exit 2
