#!/usr/bin/env bash
# Run checkov (PyPI) from a virtualenv the project manages under target/tools, installing it on
# first use. Usage: scripts/checkov.sh <checkov args...>
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$root/target/tools/checkov"
version="${CHECKOV_VERSION:-3.3.30}"
if [ ! -x "$venv/bin/checkov" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "checkov==$version" >&2
fi
exec "$venv/bin/checkov" "$@"
