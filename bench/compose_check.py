"""The compose test's invariant check, run inside the compose network (the broker advertises `kafka:9092`).

    python -m bench.compose_check TAG ACCEPTED_JSON SECONDS

Reads the services' tables and topics with bench.chaos.invariants until every accepted need was
routed, armed and streamed exactly once or SECONDS pass, then prints the tally as one JSON line.
The DSN is the compose secret /run/secrets/database_url; the broker is KAFKA_BOOTSTRAP_SERVERS.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

from bench.chaos.invariants import collect, tally


async def check(tag: str, accepted: dict[int, str], seconds: float, dsn: str) -> dict[str, object]:
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    started = time.monotonic()
    while True:
        facts = await collect(
            dsn=dsn, bootstrap=bootstrap, schema_prefix="", topic_prefix="", tag=tag, accepted=accepted
        )
        t = tally(facts)
        complete = t.routed == t.armed == t.notified == len(accepted)
        if (t.ok and complete) or time.monotonic() - started > seconds:
            return {
                "ok": t.ok and complete,
                "line": t.line(),
                "submitted": t.submitted,
                "routed": t.routed,
                "armed": t.armed,
                "notified": t.notified,
                "lost": t.lost,
                "doubled": t.doubled,
                "dead_lettered": t.dead_lettered,
                "problems": t.problems[:20],
                "settled_after_s": round(time.monotonic() - started, 1),
            }
        await asyncio.sleep(2)


def main() -> int:
    tag, accepted_file, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    accepted = {int(k): v for k, v in json.loads(Path(accepted_file).read_text()).items()}
    dsn = Path(os.environ.get("DATABASE_URL_FILE", "/run/secrets/database_url")).read_text().strip()
    result = asyncio.run(check(tag, accepted, seconds, dsn))
    print(json.dumps(result), flush=True)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
