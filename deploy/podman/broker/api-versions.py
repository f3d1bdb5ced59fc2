"""Send one Kafka ApiVersions (v0) request to host:port; exit 0 when the broker answers with no error."""

import socket
import struct
import sys

host, _, port = sys.argv[1].rpartition(":")
host = "127.0.0.1" if host in ("", "localhost") else host
client = b"healthcheck"
# Request header v1: api_key 18 (ApiVersions), api_version 0, correlation id 1, client id.
body = struct.pack(">hhih", 18, 0, 1, len(client)) + client
with socket.create_connection((host, int(port)), timeout=3) as s:
    s.sendall(struct.pack(">i", len(body)) + body)
    size = struct.unpack(">i", s.recv(4, socket.MSG_WAITALL))[0]
    reply = s.recv(size, socket.MSG_WAITALL)
correlation, error = struct.unpack(">ih", reply[:6])
sys.exit(0 if correlation == 1 and error == 0 else 1)
