"""CONTRACT §6.3: the export summary, for analysts who do not write SQL."""

from __future__ import annotations

import csv
import io

from aiohttp import web

from projections.analytics.summary import SummaryLine, export_summary
from service.api.answers import ExportSummary
from service.api.auth import AUDIT_READ
from service.api.keys import POOL
from service.api.params import ExportSummaryQuery
from service.api.routing import Call, Reply, Routes

routes = Routes()
CSV = "text/csv"


@routes.route(
    "GET",
    "/v3/accounting/analytics/exports",
    operation_id="summarizeExports",
    summary="Export outcomes counted and summed (extension)",
    description="The caller's account's reported export outcomes per UTC day, ERP vendor or "
    "outcome, and currency: how many, and the records' amounts. Kept by a catch-up "
    "projector, so a report just made may show a moment later. JSON, or CSV (a header line, "
    "then one line per item) with `Accept: text/csv`.",
    tag="Analytics",
    scopes=(AUDIT_READ,),
    query=ExportSummaryQuery,
    answers={200: ExportSummary},
    other_media_types={CSV: {"type": "string", "description": "The items as CSV."}},
)
async def summarize_exports(call: Call[None, ExportSummaryQuery, None]) -> Reply | web.Response:
    q = call.query
    async with call.request.app[POOL].acquire() as conn:
        lines = await export_summary(conn, call.principal.account_id, q.from_, q.to, q.group_by)
    if prefers_csv(call.request.headers.get("Accept", "")):
        return web.Response(text=as_csv(q.group_by, lines), content_type=CSV, charset="utf-8")
    return Reply({"group_by": q.group_by, "items": [line._asdict() for line in lines]})


def as_csv(group_by: str, lines: list[SummaryLine]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([group_by, *SummaryLine._fields[1:]])
    writer.writerows(lines)
    return out.getvalue()


def prefers_csv(accept: str) -> bool:
    """Whether the Accept header ranks text/csv above JSON (JSON wins a tie)."""
    ranks = {"csv": 0.0, "json": 0.0}
    for part in accept.split(","):
        media, *params = (piece.strip().lower() for piece in part.split(";"))
        weight = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    weight = float(param[2:])
                except ValueError:
                    weight = 0.0
        if media in (CSV, "text/*"):
            ranks["csv"] = max(ranks["csv"], weight)
        if media in ("application/json", "application/*", "*/*"):
            ranks["json"] = max(ranks["json"], weight)
    return ranks["csv"] > ranks["json"]
