#!/usr/bin/env bash
# Install the manifest checkers the template tests call into a venv under target/ (never into the
# system): kubernetes-validate (Kubernetes' strict JSON schemas) and checkov (Kubernetes checks).
# Idempotent; prints the venv path. Used by .ci/run before `cargo test ... -- --ignored`.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${MSPACK_TOOLS_VENV:-target/manifest-tools}"
stamp="$venv/.installed-kv1.37.0-checkov3.3.30"
if [[ ! -f "$stamp" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==1.37.0" "checkov==3.3.30"
  touch "$stamp"
fi
echo "$venv"
