"""A check every service's unit tests run on its `HANDLERS`: each handler takes the event it is listed for."""

from __future__ import annotations

import inspect
from typing import Any, get_type_hints

from shared.handlers import HandlerTable


def mismatched_handlers(table: HandlerTable[Any]) -> list[str]:
    """Entries whose handler's `event` parameter does not accept the model it is registered for."""
    wrong: list[str] = []
    for model, handler in table.items():
        params = list(inspect.signature(handler).parameters)
        if len(params) != 3:
            wrong.append(
                f"{model.__name__}: {handler.__qualname__} takes {len(params)} parameters, not (ctx, envelope, event)"
            )
            continue
        hint = get_type_hints(handler).get(params[2])
        accepted = getattr(hint, "__args__", (hint,))  # a union accepts any of its members
        if not any(isinstance(t, type) and issubclass(model, t) for t in accepted):
            wrong.append(f"{model.__name__}: {handler.__qualname__} takes {hint!r}")
    return wrong
