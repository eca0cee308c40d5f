"""Executors of the platform's record commands: read -> decide (the write is the runner's)."""

from __future__ import annotations

from dataclasses import replace

from domain import records
from domain.records import ChangeReviewStatus, PutRecord, RecordState
from domain.values import Frozen
from service.commands.caller import Caller
from service.commands.decision import Decision, record_decision
from service.commands.loading import Loaded, Needs


class PutResult(Frozen):
    state: RecordState
    created: bool


def needs_record(caller: Caller, command: PutRecord | ChangeReviewStatus) -> Needs:
    return Needs(caller.account_id, [command.record_id])


def put_record(caller: Caller, command: PutRecord, loaded: Loaded) -> Decision:
    state = loaded.record(caller.account_id, command.record_id)
    events = records.decide_put(command, state)
    if not events:
        assert state is not None, "only an existing record can be left as it is"
        return Decision(PutResult(state=state, created=False))
    new, decision = record_decision(command.record_id, state, events, loaded.at)
    return replace(decision, result=PutResult(state=new, created=state is None))


def change_review_status(caller: Caller, command: ChangeReviewStatus, loaded: Loaded) -> Decision:
    state = loaded.record(caller.account_id, command.record_id)
    events = records.decide_review_status(command, state)
    if not events:
        assert state is not None, "only an existing record can be left as it is"
        return Decision(state)
    new, decision = record_decision(command.record_id, state, events, loaded.at)
    return replace(decision, result=new)
