#!/bin/sh
# deploy/nginx.conf names Docker's embedded DNS server (127.0.0.11). Podman's networks answer on
# the address in the container's /etc/resolv.conf instead, so a copy of the config in /tmp gets
# that address; nothing else in the file changes.
set -eu
ns=$(awk '/^nameserver/ {print $2; exit}' /etc/resolv.conf)
if [ -n "$ns" ] && [ "$ns" != 127.0.0.11 ] && grep -q 'resolver 127.0.0.11' /etc/nginx/nginx.conf; then
    sed "s/resolver 127\.0\.0\.11/resolver $ns/" /etc/nginx/nginx.conf > /tmp/nginx.conf
    [ "${1:-}" = nginx ] && { shift; exec nginx -c /tmp/nginx.conf "$@"; }
fi
exec "$@"
