"""What the API accepted and should not: money without bounds, record ids outside a safe
set, two Unicode spellings of one id; refused where records are created (PUT, import),
while reading or reporting an unknown id stays a 404."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest

from domain.values import LineItem, Money, RecordContent
from service.api.bodies import PutRecordBody
from service.api.jsonio import parse_json
from tests.api import Client, count_events, create_integration, ok, put_record
from tests.factories import new_record_id, record_body
from tests.test_cli import run_cli
from tests.test_hostile_input import EXPORT, JSON, RECORDS, refused

# --- money -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", ["1e500", "1e400", "1e18", "-1e18", "0.0000001", "1.1234567", "1000000000000000000"]
)
async def test_money_out_of_bounds_is_400(
    client: Client, auth: dict[str, str], account: str, amount: str
) -> None:
    for where in ("amount", "original_amount", "line_item"):
        body = record_body()
        text = json.dumps(body)
        if where == "line_item":
            text = text.replace('"amount": {"amount": 100.5', f'"amount": {{"amount": {amount}', 3)
            text = text.replace(f'"amount": {{"amount": {amount}', '"amount": {"amount": 100.5', 2)
        else:
            target = f'"{where}": {{"amount": 100.5'
            text = text.replace(target, f'"{where}": {{"amount": {amount}', 1)
        resp = await client.put(
            f"/internal/accounting/records/{new_record_id()}", data=text, headers=auth | JSON
        )
        details = (await refused(resp))["details"]
        # 1e500 is refused already as JSON (numbers beyond 1e400), the rest as money.
        assert "amount" in details["field"] or "1e400" in details["reason"], details
    assert await count_events(client, account) == 0


@pytest.mark.parametrize(
    "currency", ["\u00df\u00df\u00df", "U\u0307SD", "\u0131sd", "US", "USDX", "U$D"]
)
async def test_a_currency_is_three_ascii_letters(
    client: Client, auth: dict[str, str], account: str, currency: str
) -> None:
    body = record_body(amount={"amount": 1, "currency": currency})
    resp = await client.put(
        f"/internal/accounting/records/{new_record_id()}", json=body, headers=auth
    )
    assert (await refused(resp))["details"]["field"] == "amount.currency"
    assert await count_events(client, account) == 0


@pytest.mark.parametrize(
    "amount", ["999999999999999999.999999", "-0.000001", "0", "12.50", "-12345678901234567.8901"]
)
async def test_money_within_bounds_keeps_its_digits(
    client: Client, auth: dict[str, str], amount: str
) -> None:
    rid = new_record_id()
    text = json.dumps(record_body()).replace(
        '"amount": {"amount": 100.5', f'"amount": {{"amount": {amount}', 1
    )
    resp = await client.put(f"/internal/accounting/records/{rid}", data=text, headers=auth | JSON)
    assert resp.status == 201, await resp.text()
    got = await (await client.get(f"{RECORDS}/{rid}", headers=auth)).text()
    assert f'"amount":{{"amount":{amount},' in got


# --- record ids --------------------------------------------------------------------------

BAD_IDS = [
    "accr_a%0Ab",  # newline
    "accr_a%2Fb",  # slash
    "accr_..",
    "accr_a..b",
    "accr_%E2%80%AEevil",  # right-to-left override
    "accr_%E2%81%A6x",  # left-to-right isolate
    "accr_a%20b",
    "accr_caf%C3%A9",
    "accr_",
    "accr_" + "x" * 124,
]


@pytest.mark.parametrize("record_id", BAD_IDS)
async def test_record_ids_outside_the_safe_set_are_refused_on_create(
    client: Client, auth: dict[str, str], account: str, record_id: str
) -> None:
    resp = await client.put(
        f"/internal/accounting/records/{record_id}", json=record_body(), headers=auth
    )
    assert resp.status in (400, 404), await resp.text()
    await refused(resp, resp.status)
    assert await count_events(client, account) == 0


async def test_two_unicode_forms_of_one_id_never_make_two_records(
    client: Client, auth: dict[str, str], account: str
) -> None:
    composed = unicodedata.normalize("NFC", "accr_caf\u00e9")
    decomposed = unicodedata.normalize("NFD", composed)
    for form in (composed, decomposed):
        resp = await client.put(
            f"/internal/accounting/records/{form}", json=record_body(), headers=auth
        )
        await refused(resp)
    assert await count_events(client, account) == 0
    resp = await client.get(f"{RECORDS}/{composed}", headers=auth)
    await refused(resp, 404)


async def test_the_largest_safe_id_is_accepted(client: Client, auth: dict[str, str]) -> None:
    record_id = "accr_" + "A-z_9" * 24 + "xyz"
    assert len(record_id) == 128
    assert (await put_record(client, auth, record_id))["id"] == record_id


async def test_export_of_an_unsafe_id_is_an_unknown_id(
    client: Client, auth: dict[str, str]
) -> None:
    await create_integration(client, auth)
    resp = await client.post(EXPORT, json={"results": [ok("accr_../x")]}, headers=auth)
    body = await refused(resp, 404)
    assert body["details"]["not_found_export_entry_source_ids"] == ["accr_../x"]


async def test_import_refuses_the_same_input_line_by_line(
    shared_dsn: str, tmp_path: Path, account: str
) -> None:
    good = json.dumps({"id": "accr_ok-1", **record_body()}).encode()
    bad = [
        json.dumps({"id": "accr_a/b", **record_body()}).encode(),
        json.dumps({"id": "accr_caf\u00e9", **record_body()}, ensure_ascii=False).encode(),
        json.dumps({"id": "accr_x1", **record_body(memo="\ud800")}).encode(),
        json.dumps({"id": "accr_x2", **record_body()}).replace("100.5", "1e400", 1).encode(),
        json.dumps(
            {"id": "accr_x3", **record_body(posted_at="9999-12-31T23:59:59-05:00")}
        ).encode(),
        b'{"id": "accr_x4", "memo": "\xff\xfe"}',  # not UTF-8
        b'{"id": "accr_x5", "deep": ' + b"[" * 3000 + b"]" * 3000 + b"}",
    ]
    source = tmp_path / "hostile.jsonl"
    source.write_bytes(b"\n".join([good, *bad, good]) + b"\n")
    done = run_cli("import", str(source), "--account", account, dsn=shared_dsn)
    assert done.returncode == 1, done.stderr
    assert "created 1, revised 0, unchanged 1, rejected 7" in done.stdout, done.stdout
    for line in range(2, 9):
        assert f"line {line}: " in done.stderr
    assert "Traceback" not in done.stderr


def test_a_put_body_gives_the_record_in_the_domains_own_types() -> None:
    """The body's bounded money and line items become plain Money and LineItem, equal to
    what validating the same record as stored content gives (no second validation)."""
    body = record_body(original_amount={"amount": 7.25, "currency": "eur"})
    given = parse_json(json.dumps(body).encode())
    given["line_items"][0]["original_amount"] = {"amount": 1, "currency": "usd"}
    content = PutRecordBody.model_validate(given).content()
    assert type(content) is RecordContent
    assert content == RecordContent.model_validate(given)
    assert content.model_dump() == RecordContent.model_validate(given).model_dump()
    money = [content.amount, content.original_amount]
    money += [m for item in content.line_items for m in (item.amount, item.original_amount)]
    assert {type(m) for m in money if m is not None} == {Money}
    assert content.line_items and {type(item) for item in content.line_items} == {LineItem}
