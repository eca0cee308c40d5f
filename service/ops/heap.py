"""The garbage collector set for a long-running process that allocates in bursts.

By default CPython collects its youngest generation every 700 allocations of container
objects (net of those freed). One request allocates thousands (its pydantic models, the
rows it reads and writes), so the collector ran several times per request, and its older
generations, which hold every module, class and connection made at start-up, were walked
over and over: 11 % of the service's busy time at 32 clients (py-spy). Collected every
50,000 allocations instead, with what start-up made frozen out of its way, export-results
went from about 4,300 to 5,600 records/s at 100 records per request, and p99 at 8 clients
from 21 to 11 ms (README, "Performance"). Reference cycles are still collected, later.
"""

from __future__ import annotations

import gc

YOUNG = 50_000  # allocations between two collections of the youngest generation
OLDER = (50, 100)  # collections of one generation between two of the next older one


def tune() -> None:
    gc.set_threshold(YOUNG, *OLDER)


def freeze_startup() -> None:
    """What exists now lives as long as the process: no later collection walks it."""
    gc.collect()
    gc.freeze()
