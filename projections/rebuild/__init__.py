"""Rebuilding projections from the whole log into shadow tables, swapping them in while the
API keeps answering, and verifying a projection against such a rebuild."""

from __future__ import annotations

from projections.analytics.projection import ANALYTICS
from projections.rebuild.inline import IntegrationsProjection, RecordStateProjection
from projections.stream_projection import StreamProjection

# Everything `rebuild` and `verify` know, by name, in the order a full rebuild takes them.
PROJECTIONS: dict[str, StreamProjection] = {
    p.name: p for p in (RecordStateProjection(), IntegrationsProjection(), ANALYTICS)
}
