"""Prometheus metrics (served by the HTTP edge at GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("http_requests_total", "HTTP requests answered", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds", "Time to answer an HTTP request", ["method", "route"]
)
EXPORT_RESULTS = Counter(
    "export_results_recorded_total",
    "Export outcomes recorded (ExportSuccess, ExportFailure)",
    ["outcome"],
)
CONFLICT_RETRIES = Counter(
    "command_conflict_retries_total", "Commands re-run after losing a race on a stream version"
)
CATCHUP_LAG_EVENTS = Gauge(
    "catchup_lag_events", "Committed events a catch-up projector has not applied yet", ["projector"]
)
CATCHUP_LAG_SECONDS = Gauge(
    "catchup_lag_seconds", "How long the oldest event not yet applied has waited", ["projector"]
)
GROUP_COMMIT_SIZE = Histogram(
    "group_commit_batch_size",
    "Commands written together by one write statement",
    buckets=(1, 2, 4, 8, 16, 32, 64),
)
