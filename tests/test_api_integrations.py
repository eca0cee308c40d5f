"""CONTRACT §3 through the HTTP app."""

from __future__ import annotations

import asyncio

from tests.api import Client, count_events, create_integration
from tests.conftest import make_token

PATH = "/v3/accounting/integration"


async def test_create_when_none_active(client: Client, auth: dict[str, str]) -> None:
    body = await create_integration(client, auth, "ERP_A", "ledger-1")
    assert body["integration_id"].startswith("int_")
    assert body["id"] == body["integration_id"]
    assert body["status"] == "ACTIVE"
    assert (body["vendor"], body["vendor_account_id"]) == ("ERP_A", "ledger-1")
    assert body["created_at"].endswith("Z")


async def test_same_vendor_and_account_returns_the_existing_one_without_an_event(
    client: Client, auth: dict[str, str], account: str
) -> None:
    first = await create_integration(client, auth)
    again = await create_integration(client, auth)
    assert again == first
    assert await count_events(client, account, "integrations") == 1


async def test_same_vendor_other_account_is_a_mismatch(
    client: Client, auth: dict[str, str]
) -> None:
    first = await create_integration(client, auth, "ERP_A", "ledger-1")
    resp = await client.post(
        PATH, json={"vendor": "ERP_A", "vendor_account_id": "ledger-2"}, headers=auth
    )
    assert resp.status == 409
    assert await resp.json() == {
        "error_code": "VENDOR_ACCOUNT_ID_MISMATCH",
        "message": resp_message(await resp.json()),
        "details": {
            "existing_integration_id": first["integration_id"],
            "existing_vendor_account_id": "ledger-1",
            "requested_vendor_account_id": "ledger-2",
        },
    }


def resp_message(body: dict[str, object]) -> object:
    assert isinstance(body["message"], str) and body["message"]
    return body["message"]


async def test_other_vendor_while_active_is_refused(client: Client, auth: dict[str, str]) -> None:
    first = await create_integration(client, auth, "ERP_A")
    resp = await client.post(PATH, json={"vendor": "ERP_B", "vendor_account_id": "x"}, headers=auth)
    assert resp.status == 409
    body = await resp.json()
    assert body["error_code"] == "ACTIVE_INTEGRATION_EXISTS"
    assert body["details"] == {
        "existing_integration_id": first["integration_id"],
        "existing_vendor": "ERP_A",
        "requested_vendor": "ERP_B",
    }


async def test_disconnect_then_create_never_reuses_the_disabled_one(
    client: Client, auth: dict[str, str]
) -> None:
    first = await create_integration(client, auth)
    resp = await client.post(f"{PATH}/{first['integration_id']}/disconnect", headers=auth)
    assert resp.status == 200
    assert (await resp.json())["status"] == "DISABLED"
    second = await create_integration(client, auth)
    assert second["integration_id"] != first["integration_id"]


async def test_disconnect_unknown_and_not_active(client: Client, auth: dict[str, str]) -> None:
    resp = await client.post(f"{PATH}/int_nope/disconnect", headers=auth)
    assert resp.status == 404
    assert (await resp.json())["error_code"] == "NOT_FOUND"
    first = await create_integration(client, auth)
    await client.post(f"{PATH}/{first['integration_id']}/disconnect", headers=auth)
    resp = await client.post(f"{PATH}/{first['integration_id']}/disconnect", headers=auth)
    assert resp.status == 409
    body = await resp.json()
    assert body["error_code"] == "INTEGRATION_NOT_ACTIVE"
    assert body["details"] == {
        "integration_id": first["integration_id"],
        "current_status": "DISABLED",
    }


async def test_reactivate_rules(client: Client, auth: dict[str, str]) -> None:
    resp = await client.post(f"{PATH}/int_nope/reactivate", headers=auth)
    assert resp.status == 404
    first = await create_integration(client, auth, "ERP_A")
    resp = await client.post(f"{PATH}/{first['integration_id']}/reactivate", headers=auth)
    assert resp.status == 409  # itself ACTIVE
    assert (await resp.json())["details"]["existing_integration_id"] == first["integration_id"]
    await client.post(f"{PATH}/{first['integration_id']}/disconnect", headers=auth)
    second = await create_integration(client, auth, "ERP_B")
    resp = await client.post(f"{PATH}/{first['integration_id']}/reactivate", headers=auth)
    assert resp.status == 409
    assert (await resp.json())["details"] == {
        "existing_integration_id": second["integration_id"],
        "existing_vendor": "ERP_B",
        "requested_vendor": "ERP_A",
    }
    await client.post(f"{PATH}/{second['integration_id']}/disconnect", headers=auth)
    resp = await client.post(f"{PATH}/{first['integration_id']}/reactivate", headers=auth)
    assert resp.status == 200
    assert (await resp.json())["status"] == "ACTIVE"


async def test_list_is_newest_first(client: Client, auth: dict[str, str]) -> None:
    first = await create_integration(client, auth, "ERP_A")
    await client.post(f"{PATH}/{first['integration_id']}/disconnect", headers=auth)
    second = await create_integration(client, auth, "ERP_B")
    resp = await client.get(PATH, headers=auth)
    items = (await resp.json())["items"]
    assert [i["integration_id"] for i in items] == [
        second["integration_id"],
        first["integration_id"],
    ]
    assert [i["status"] for i in items] == ["ACTIVE", "DISABLED"]


async def test_another_tenants_integration_is_not_found(
    client: Client, auth: dict[str, str]
) -> None:
    mine = await create_integration(client, auth)
    stranger = {"Authorization": f"Bearer {make_token('acct_stranger_x')}"}
    resp = await client.post(f"{PATH}/{mine['integration_id']}/disconnect", headers=stranger)
    assert resp.status == 404
    listed = await (await client.get(PATH, headers=stranger)).json()
    assert mine["integration_id"] not in [i["integration_id"] for i in listed["items"]]


async def test_bad_bodies_are_400_with_the_field(client: Client, auth: dict[str, str]) -> None:
    for body, field in (
        ({"vendor_account_id": "x"}, "vendor"),
        ({"vendor": "", "vendor_account_id": "x"}, "vendor"),
        ({"vendor": "ERP_A", "vendor_account_id": 12}, "vendor_account_id"),
    ):
        resp = await client.post(PATH, json=body, headers=auth)
        assert resp.status == 400
        payload = await resp.json()
        assert payload["error_code"] == "INVALID_REQUEST"
        assert payload["details"]["field"] == field


async def test_concurrent_creates_make_exactly_one_integration(
    client: Client, auth: dict[str, str], account: str
) -> None:
    async def create() -> tuple[int, str]:
        resp = await client.post(
            PATH, json={"vendor": "ERP_A", "vendor_account_id": "l"}, headers=auth
        )
        return resp.status, (await resp.json())["integration_id"]

    outcomes = await asyncio.gather(*(create() for _ in range(12)))
    assert {status for status, _ in outcomes} == {200}
    assert len({integration_id for _, integration_id in outcomes}) == 1
    assert await count_events(client, account, "integrations") == 1
