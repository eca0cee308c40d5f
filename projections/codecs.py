"""Event type registries for the two kinds of stream, with the upcasters that read events
stored under older schema versions. Stored events are never rewritten (their hashes cover
the stored bytes): an old event is brought to the current shape each time it is read."""

from __future__ import annotations

from domain.integrations import INTEGRATION_EVENTS, IntegrationEvent
from domain.records import RECORD_EVENTS, RecordEvent
from eventstore.codec import EventCodec
from eventstore.types import JsonObject


def export_failed_v1_to_v2(data: JsonObject) -> JsonObject:
    """ExportFailed 1 -> 2: `error_message` moved into `error`, which may also hold a code."""
    upcast = {key: value for key, value in data.items() if key != "error_message"}
    return upcast | {"error": {"message": data["error_message"], "code": None}}


RECORDS: EventCodec[RecordEvent] = EventCodec(
    RECORD_EVENTS,
    versions={"ExportFailed": 2},
    upcasters={("ExportFailed", 1): export_failed_v1_to_v2},
)
INTEGRATIONS: EventCodec[IntegrationEvent] = EventCodec(INTEGRATION_EVENTS)
