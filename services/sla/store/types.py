"""The connection and row types sla's modules name (so only the store imports asyncpg)."""

from __future__ import annotations

from typing import TypeAlias

import asyncpg

Connection: TypeAlias = asyncpg.Connection
Pool: TypeAlias = asyncpg.Pool
Record: TypeAlias = asyncpg.Record
Conn: TypeAlias = asyncpg.Connection | asyncpg.Pool
