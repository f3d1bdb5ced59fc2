"""The bare endpoint intake is compared with: validate a need (intake's own model) and return.

Run as its own uvicorn process, configured like the services (`python -m bench.bare_app PORT`).
"""

from __future__ import annotations

import sys
import uuid

import uvicorn
from fastapi import FastAPI

from services.intake.needs.models import NeedAccepted, NeedIn


def create_app() -> FastAPI:
    """POST /v1/needs: the same request and response models as intake, no storage, no events."""
    app = FastAPI(title="bare validate-and-return")

    @app.post("/v1/needs", status_code=202, response_model=NeedAccepted)
    async def post_need(need: NeedIn) -> NeedAccepted:
        return NeedAccepted(case_id=str(uuid.uuid4()), status="submitted", access_token="-")

    return app


def main(argv: list[str]) -> None:
    """Serve on 127.0.0.1:<port> with the services' uvicorn settings."""
    uvicorn.run(create_app(), host="127.0.0.1", port=int(argv[0]), log_config=None, access_log=False, lifespan="on")


if __name__ == "__main__":
    main(sys.argv[1:])
