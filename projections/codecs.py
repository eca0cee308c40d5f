"""Event type registries for the two kinds of stream."""

from __future__ import annotations

from domain.integrations import INTEGRATION_EVENTS, IntegrationEvent
from domain.records import RECORD_EVENTS, RecordEvent
from eventstore.codec import EventCodec

RECORDS: EventCodec[RecordEvent] = EventCodec(RECORD_EVENTS)
INTEGRATIONS: EventCodec[IntegrationEvent] = EventCodec(INTEGRATION_EVENTS)
