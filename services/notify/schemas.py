"""`python -m services.notify.schemas [DIR]`: write a JSON Schema per event type (default docs/schemas/).

A department's system consumes its audience topic with these and the CloudEvents envelope schema,
without reading lastmeter's code.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared.events import CloudEvent, known_types
from shared.settings import REPO_ROOT


def schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema, for the envelope and every registered event type's `data`."""
    out: dict[str, dict[str, Any]] = {}
    envelope = CloudEvent.model_json_schema()
    envelope["title"] = "CloudEvents 1.0 envelope (structured JSON); `data` is one of the event schemas"
    out["envelope.json"] = envelope
    for event_type, model in sorted(known_types().items()):
        schema = model.model_json_schema()
        schema["$id"] = f"https://lastmeter.example/schemas/{event_type}.json"
        schema["title"] = event_type
        schema["description"] = (model.__doc__ or "").strip()
        schema["x-schema-version"] = model.VERSION
        out[f"{event_type}.json"] = schema
    return out


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in schemas().items():
        path = directory / name
        path.write_text(json.dumps(schema, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO_ROOT / "docs" / "schemas"
    for path in write(target):
        print(path)
