#!/usr/bin/env bash
# Makes the servers the consistency crates' tests need available on loopback:
#   PostgreSQL on 127.0.0.1:5432 (trust auth, user postgres, database `test`)
#   NATS with JetStream on 127.0.0.1:4222
# A server already listening on its port is used as it is. Otherwise the Debian package is
# installed (non-interactively) if missing, and the server is started in the background.
# Then the script waits until both answer. Safe to run repeatedly.
#
# Overrides (mainly for trying the script next to running servers):
#   MSPACK_CI_PG_PORT (5432), MSPACK_CI_NATS_PORT (4222), MSPACK_CI_NATS_DIR (/tmp/mspack-ci-nats)
set -euo pipefail

PG_PORT="${MSPACK_CI_PG_PORT:-5432}"
NATS_PORT="${MSPACK_CI_NATS_PORT:-4222}"
NATS_DIR="${MSPACK_CI_NATS_DIR:-/tmp/mspack-ci-nats}"

log() { echo "ci-services: $*"; }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

APT_UPDATED=0
apt_install() {
    if [ "$APT_UPDATED" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "$@" >/dev/null
}

# wait_until NAME COMMAND...: retries COMMAND for up to 60 s.
wait_until() {
    local name="$1"
    shift
    for _ in $(seq 1 120); do
        if "$@" >/dev/null 2>&1; then
            log "$name answers"
            return 0
        fi
        sleep 0.5
    done
    log "$name did not answer within 60 s" >&2
    return 1
}

pg_answers() {
    if command -v pg_isready >/dev/null 2>&1; then
        pg_isready -q -h 127.0.0.1 -p "$PG_PORT"
    else
        listening "$PG_PORT"
    fi
}

# NATS greets every client with an INFO line; JetStream must be on ("jetstream":true).
nats_answers() {
    local banner
    banner="$(timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$NATS_PORT; head -n 1 <&3" 2>/dev/null || true)"
    case "$banner" in
        INFO*) ;;
        *) return 1 ;;
    esac
    case "$banner" in
        *'"jetstream":true'*) return 0 ;;
        *) log "warning: the NATS server on port $NATS_PORT does not announce JetStream" >&2; return 0 ;;
    esac
}

start_postgres() {
    if ! ls -d /etc/postgresql/*/main >/dev/null 2>&1; then
        log "installing postgresql"
        apt_install postgresql
    fi
    local version hba
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    hba="/etc/postgresql/$version/main/pg_hba.conf"
    if ! grep -q 'mspack-ci' "$hba"; then
        # First match wins in pg_hba.conf: trust loopback and the local socket for tests.
        sed -i '1i # mspack-ci: tests connect without a password\nlocal all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
    fi
    if [ "$PG_PORT" != 5432 ]; then
        sed -i "s/^#\?port = .*/port = $PG_PORT/" "/etc/postgresql/$version/main/postgresql.conf"
    fi
    log "starting postgresql $version"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
}

ensure_test_database() {
    local psql=(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tA)
    if ! command -v psql >/dev/null 2>&1; then
        log "psql not found; assuming database test exists"
        return 0
    fi
    if [ "$("${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname = 'test'" 2>/dev/null)" != 1 ]; then
        log "creating database test"
        "${psql[@]}" -c "CREATE DATABASE test" >/dev/null
    fi
}

start_nats() {
    if ! command -v nats-server >/dev/null 2>&1; then
        log "installing nats-server"
        apt_install nats-server
    fi
    mkdir -p "$NATS_DIR"
    log "starting nats-server with JetStream in $NATS_DIR"
    nohup nats-server -a 127.0.0.1 -p "$NATS_PORT" -js -sd "$NATS_DIR" \
        >"$NATS_DIR/nats-server.log" 2>&1 </dev/null &
    echo $! >"$NATS_DIR/nats-server.pid"
}

if listening "$PG_PORT"; then
    log "postgresql: using the server already on 127.0.0.1:$PG_PORT"
else
    start_postgres
fi
wait_until "postgresql on 127.0.0.1:$PG_PORT" pg_answers
ensure_test_database

if listening "$NATS_PORT"; then
    log "nats: using the server already on 127.0.0.1:$NATS_PORT"
else
    start_nats
fi
wait_until "nats on 127.0.0.1:$NATS_PORT" nats_answers

# A nats-server 2.10+ under target/ for the durability, restart and cluster tests.
bash "$(dirname "$0")/nats-server.sh"
