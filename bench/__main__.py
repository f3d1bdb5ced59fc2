"""`python -m bench [--quick]`: every figure beside its limit, measured in one run."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="reduced sizes; the whole run takes under 2 minutes")
    args = parser.parse_args(argv)

    from shared.logging import configure_logging

    configure_logging(service="bench", level=os.environ.get("LASTMETER_LOG_LEVEL", "WARNING"))
    from bench.runner import run_bench

    return asyncio.run(run_bench(quick=args.quick))


if __name__ == "__main__":
    sys.exit(main())
