"""The collector setting of the service's processes (service.ops.heap)."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from service.ops import heap


@pytest.fixture
def restored_collector() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.mark.usefixtures("restored_collector")
def test_tune_collects_the_young_generation_less_often() -> None:
    heap.tune()
    assert gc.get_threshold() == (heap.YOUNG, *heap.OLDER)
    assert heap.YOUNG > 700  # CPython's default, which ran several collections per request


@pytest.mark.usefixtures("restored_collector")
def test_freeze_startup_takes_what_exists_out_of_later_collections() -> None:
    before = gc.get_freeze_count()
    lived = [[n] for n in range(1000)]  # containers made at start-up
    heap.freeze_startup()
    assert gc.get_freeze_count() >= before + len(lived)
    assert not any(obj is lived for obj in gc.get_objects())  # no generation holds them


@pytest.mark.usefixtures("restored_collector")
def test_cycles_made_after_start_up_are_still_collected() -> None:
    heap.tune()
    heap.freeze_startup()
    first, second = _Node(), _Node()
    first.other, second.other = second, first
    gone = weakref.ref(first)
    del first, second
    gc.collect()
    assert gone() is None
