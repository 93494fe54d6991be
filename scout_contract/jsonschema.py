"""JSON Schema export of the contract, for producers outside Python.

>>> schema = event_json_schema()
>>> sorted(schema["$defs"])[:3]
['Detection', 'FeedbackV1', 'HeartbeatV1']
"""

from __future__ import annotations

from typing import Any

import msgspec

from scout_contract.events import Event


def event_json_schema() -> dict[str, Any]:
    """A JSON Schema (2020-12) accepting any event this contract can read."""
    schema: dict[str, Any] = msgspec.json.schema(Event)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "Scout stream event"
    return schema
