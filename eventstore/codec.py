"""Typed codec: frozen pydantic event models <-> stored rows, with upcasting.

Stored events are never rewritten: an event stored under an older schema_version is
upcast on the way out by the registered functions, one version step at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from eventstore.types import JsonObject, NewEvent, RecordedEvent

E = TypeVar("E", bound=BaseModel)
Upcaster = Callable[[JsonObject], JsonObject]


class UnknownEventType(LookupError):
    pass


class EventCodec(Generic[E]):
    def __init__(
        self,
        models: Iterable[type[E]],
        *,
        versions: Mapping[str, int] | None = None,
        upcasters: Mapping[tuple[str, int], Upcaster] | None = None,
    ) -> None:
        self._models = {model.__name__: model for model in models}
        self._versions = dict(versions or {})
        self._upcasters = dict(upcasters or {})

    def encode(self, event: E, metadata: Mapping[str, Any] | None = None) -> NewEvent:
        name = type(event).__name__
        if name not in self._models:
            raise UnknownEventType(name)
        return NewEvent(
            type=name,
            data=event.model_dump(mode="python"),
            schema_version=self._versions.get(name, 1),
            metadata=dict(metadata or {}),
        )

    def decode(self, recorded: RecordedEvent) -> E:
        return self.decode_data(recorded.type, recorded.schema_version, recorded.data)

    def decode_data(self, type_name: str, schema_version: int, data: JsonObject) -> E:
        model = self._models.get(type_name)
        if model is None:
            raise UnknownEventType(type_name)
        current = self._versions.get(type_name, 1)
        while schema_version < current:
            data = self._upcasters[(type_name, schema_version)](data)
            schema_version += 1
        return model.model_validate(data)
