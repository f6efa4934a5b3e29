#!/usr/bin/env bash
# Install Debian's `chromium` package (a real headless browser for the `mspack graph --format
# html` test) with apt-get when no `chromium` is on PATH. Idempotent; prints the binary's path.
# Used by .ci/run before `cargo test -p mspack --test graph_chromium -- --ignored`.
set -euo pipefail
if ! command -v chromium >/dev/null 2>&1; then
  sudo=""
  if [[ "$(id -u)" != 0 ]]; then
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >&2
fi
command -v chromium
