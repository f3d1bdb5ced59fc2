"""structlog configured once per process: JSON off a terminal, a console renderer on one."""

from __future__ import annotations

import logging
import sys

import structlog


class _CurrentStderr:
    """sys.stderr as it is at each write, not as it was when logging was configured.

    Loggers are cached on first use; one cached while sys.stderr was a replaced stream (a test's
    capture, since closed) would otherwise raise on every later line and kill the task logging it.
    """

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(*, service: str, level: str = "INFO", json: bool | None = None) -> None:
    """Set up structlog and the stdlib root logger for one service process."""
    use_json = (not sys.stderr.isatty()) if json is None else json
    shared_processors: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        processors=[
            *shared_processors,
            # The console renderer prints tracebacks itself; JSON needs them as a string field.
            *([structlog.processors.format_exc_info] if use_json else []),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    # Libraries (aiokafka, uvicorn) log through the stdlib; keep them quieter than ours.
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
