#!/bin/sh
# Tansu's listener from the apache/kafka image's KAFKA_ADVERTISED_LISTENERS (PLAINTEXT://host:port),
# or from Tansu's own ADVERTISED_LISTENER_URL when set (the test fixtures set it).
set -eu
if [ -z "${ADVERTISED_LISTENER_URL:-}" ]; then
    first=$(printf '%s' "${KAFKA_ADVERTISED_LISTENERS:-PLAINTEXT://localhost:9092}" | cut -d, -f1)
    ADVERTISED_LISTENER_URL="tcp://${first#*://}"
fi
export ADVERTISED_LISTENER_URL
exec tansu broker --listener-url "${LISTENER_URL:-tcp://0.0.0.0:9092}" \
    --storage-engine "${STORAGE_ENGINE:-memory://tansu/}" "$@"
