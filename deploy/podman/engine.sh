#!/bin/sh
# Make Podman (Debian's packages) usable on a machine without Docker: install it if apt can,
# configure it for hosts whose cgroups crun cannot drive, and start its Docker-compatible API.
#
#   sh deploy/podman/engine.sh install   # apt-get install podman runc debootstrap; exit 1 if not possible
#   sh deploy/podman/engine.sh config    # write /etc/containers/containers.conf unless it sets a runtime
#   sh deploy/podman/engine.sh api       # start `podman system service` on $SOCK unless it answers
#   sh deploy/podman/engine.sh api-stop  # stop the API service this script started
set -eu

# Not Podman's usual socket: test runs that find a usual socket use containers (tests/containers.py),
# so a service started for `make test-containers` must not change what other runs pick.
SOCK=${LASTMETER_PODMAN_SOCK:-/run/lastmeter-podman/podman.sock}
PIDFILE=$(dirname "$SOCK")/api.pid
CONF=/etc/containers/containers.conf

case "${1:-}" in
install)
    if command -v podman >/dev/null 2>&1 && command -v runc >/dev/null 2>&1 && command -v debootstrap >/dev/null 2>&1; then
        exit 0
    fi
    command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] || { echo "podman: needs root and apt-get" >&2; exit 1; }
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
    ;;
config)
    # crun (Podman's default runtime) fails on these hosts' hybrid cgroups; runc with cgroupfs works.
    # Default ulimits are dropped because the host's own hard limits are lower than Podman's defaults.
    if [ -f "$CONF" ] && grep -q '^runtime *=' "$CONF"; then
        exit 0
    fi
    mkdir -p /etc/containers
    cat > "$CONF" <<'CONFEOF'
# Written by lastmeter's deploy/podman/engine.sh.
[containers]
default_ulimits = []

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONFEOF
    ;;
api)
    if curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; then
        exit 0
    fi
    mkdir -p "$(dirname "$SOCK")"
    nohup podman system service --time=0 "unix://$SOCK" >"$(dirname "$SOCK")/api.log" 2>&1 &
    echo $! > "$PIDFILE"
    i=0
    until curl -sf --unix-socket "$SOCK" http://d/_ping >/dev/null 2>&1; do
        i=$((i + 1))
        [ "$i" -lt 100 ] || { echo "podman: the API service did not answer on $SOCK" >&2; exit 1; }
        sleep 0.1
    done
    ;;
api-stop)
    if [ -f "$PIDFILE" ]; then
        kill "$(cat "$PIDFILE")" 2>/dev/null || true
        rm -f "$PIDFILE"
    fi
    ;;
*)
    echo "usage: $0 install|config|api|api-stop" >&2
    exit 2
    ;;
esac
