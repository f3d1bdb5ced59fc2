#!/bin/sh
# Same name and arguments as Kafka's tool: --bootstrap-server host:port. Exits 0 when it answers.
[ "${1:-}" = "--bootstrap-server" ] || { echo "usage: $0 --bootstrap-server host:port" >&2; exit 2; }
exec python3 /opt/kafka/bin/api-versions.py "$2"
