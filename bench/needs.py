"""Need bodies for load: every one distinct, so intake's near-duplicate check never links them."""

from __future__ import annotations

import re

import orjson

# Categories a department owns in every community of the demo catalogue (no volunteer capacity
# runs out, no required attributes), so every need routes the same, cheap way.
CATEGORIES = ("street_light_out", "sewer_blocked", "illegal_construction", "tree_trimming", "noise")
COMMUNITIES = ("jinrongjie", "yibinxili", "huazhangli", "chaoyangli")
SEQ_PATTERN = re.compile(r"#(\d+)\b")
# Needs sit on a grid 0.01° apart (about 1 km), far beyond any duplicate radius. The grid must
# hold every need of a run: a position reused by a need of the same category (seq and
# seq + _GRID², since _GRID² is a multiple of the category count) is a genuine duplicate to intake.
_GRID = 1000


def need(seq: int, *, tag: str = "bench") -> dict[str, object]:
    """The need with sequence number `seq`; its description carries `#<seq>` so checkers can find it."""
    row, col = divmod(seq % (_GRID * _GRID), _GRID)
    return {
        "category": CATEGORIES[seq % len(CATEGORIES)],
        "community": COMMUNITIES[(seq // len(CATEGORIES)) % len(COMMUNITIES)],
        "description": f"{tag} need #{seq} 楼道灯不亮 / light out",
        "location": {"lat": 38.5 + row * 0.01, "lon": 116.5 + col * 0.01},
        "address": f"{tag} building {seq}",
    }


def need_body(seq: int, *, tag: str = "bench") -> bytes:
    """`need(seq)` as a JSON request body."""
    return orjson.dumps(need(seq, tag=tag))


def seq_of(description: str) -> int | None:
    """The sequence number a description carries, if any."""
    match = SEQ_PATTERN.search(description)
    return int(match.group(1)) if match else None
