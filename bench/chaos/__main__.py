"""`python -m bench.chaos [--reduced]`: faults against the real processes, then the invariant counts.

Exits 1 when anything was lost or doubled, or a fault was not survived as promised.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys


async def _run(reduced: bool) -> int:
    from bench.chaos.scenario import FULL, REDUCED, Chaos, print_outcome
    from bench.stack import running_stack

    print("· starting broker, PostgreSQL and the four services …", file=sys.stderr, flush=True)
    async with running_stack(quick=reduced, label="chaos") as running:
        outcome = await Chaos(running, REDUCED if reduced else FULL).run()
    print_outcome(outcome)
    return 0 if outcome.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.add_argument("--reduced", action="store_true", help="what CI runs: fewer kills, no PostgreSQL restart")
    args = parser.parse_args(argv)
    from shared.logging import configure_logging

    configure_logging(service="chaos", level=os.environ.get("LASTMETER_LOG_LEVEL", "WARNING"))
    return asyncio.run(_run(args.reduced))


if __name__ == "__main__":
    sys.exit(main())
