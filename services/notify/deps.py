"""Notify's typed runtime and the FastAPI dependencies its routers share."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends

from services.notify.runtime import NotifyRuntime, channel_env
from services.notify.subscriptions.service_layer import SubscriptionDeps
from shared.service import current_runtime
from shared.uow import PgUnitOfWork

Rt = Annotated[NotifyRuntime, Depends(current_runtime)]


def _connection(conn: Any) -> Any:
    return conn  # notify's stores are module functions taking the connection (docs/architecture.md)


def subscription_deps(rt: Rt) -> SubscriptionDeps:
    """The subscription use cases' dependencies (a unit of work on the pool, made per request: it is cheap)."""
    return SubscriptionDeps(
        pool=rt.pool,
        uow=PgUnitOfWork(rt.pool, rt.outbox, _connection),
        settings=rt.settings,
        clock=rt.clock,
        env=channel_env(rt),
    )


Subscriptions = Annotated[SubscriptionDeps, Depends(subscription_deps)]
