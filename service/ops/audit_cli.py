"""The auditors' commands: `seal`, `verify` and `audit-export` (registered by __main__)."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated

import asyncpg
import typer
import uvloop
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from projections.analytics.projection import ANALYTICS
from projections.audit.notes import NoteError, open_note, parse_checkpoint, parse_verifier_key
from projections.audit.sealer import Sealer
from projections.audit.signer import Signer
from projections.catchup import catch_up, follow
from projections.rebuild.shadow import Busy
from projections.rebuild.verify import compare_projection
from service.database import open_pool
from service.ops.audit_export import export_bundle
from service.ops.cli import database, err, load_settings
from service.ops.verify_log import Mismatch, verify_log
from service.ops.verify_trees import verify_tree
from service.settings import Settings
from service.workers import signer_for

COLUMNS = (
    TextColumn("{task.description}"),
    BarColumn(),
    MofNCompleteColumn(),
    TimeRemainingColumn(),
)


def _signer(settings: Settings) -> Signer:
    signer = signer_for(settings)
    if signer is None:
        err.print("AUDIT_SIGNING_KEY_FILE is not set: there is no key to sign or check with")
        raise typer.Exit(2)
    return signer


def _sealer(settings: Settings) -> Sealer:
    return Sealer(
        _signer(settings),
        checkpoint_events=settings.audit_checkpoint_events,
        checkpoint_seconds=settings.audit_checkpoint_seconds,
    )


async def _with_pool(settings: Settings, work: Callable[[asyncpg.Pool], Awaitable[None]]) -> None:
    assert settings.database_url
    pool = await open_pool(settings.database_url, max_size=3)
    try:
        await work(pool)
    finally:
        await pool.close()


def seal(
    follow_feed: Annotated[
        bool, typer.Option("--follow", help="Keep sealing new events until interrupted")
    ] = False,
) -> None:
    """Append committed events to their accounts' logs and sign checkpoints."""
    with database(load_settings()) as ready:
        sealer = _sealer(ready)

        async def run(pool: asyncpg.Pool) -> None:
            done = await catch_up(pool, sealer)
            print(f"sealed {done} events")
            if follow_feed:
                stop = asyncio.Event()
                loop = asyncio.get_running_loop()
                for sig in (signal.SIGINT, signal.SIGTERM):
                    loop.add_signal_handler(sig, stop.set)
                await follow(pool, sealer, stop)

        uvloop.run(_with_pool(ready, run))


def verify(
    account: Annotated[str | None, typer.Option(help="Only this account")] = None,
    trusted_checkpoint: Annotated[
        list[Path] | None,
        typer.Option(help="A checkpoint note saved earlier (repeatable)", exists=True),
    ] = None,
    verifier_key: Annotated[
        str | None, typer.Option(help="Check signatures with this published key instead")
    ] = None,
) -> None:
    """Recompute every hash chain, tree and checkpoint signature, and re-fold every
    projection; name each mismatch. Exit status 0 only when everything matches."""
    with database(load_settings()) as ready:
        signer = _signer(ready)
        verifier = parse_verifier_key(verifier_key) if verifier_key else signer.verifier
        try:
            trusted = [
                parse_checkpoint(open_note(path.read_text(), verifier))
                for path in trusted_checkpoint or []
            ]
        except NoteError as exc:
            err.print(f"a saved checkpoint does not verify: {exc}", markup=False)
            raise typer.Exit(1) from None
        found: list[Mismatch] = []

        async def run(pool: asyncpg.Pool) -> None:
            async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read"):
                total = await conn.fetchval(
                    "SELECT count(*) FROM events WHERE $1::text IS NULL OR account_id = $1",
                    account,
                )
                accounts = [
                    r[0]
                    for r in await conn.fetch(
                        "SELECT DISTINCT account_id FROM events"
                        " WHERE $1::text IS NULL OR account_id = $1",
                        account,
                    )
                ]
                with Progress(*COLUMNS, console=err) as bar:
                    chains = bar.add_task("chains and projections", total=total)
                    await verify_log(conn, account, found.append, lambda n: bar.advance(chains, n))
                    trees = bar.add_task("account logs", total=total)
                    for owner in accounts:
                        mine = [t for t in trusted if t.origin == signer.origin(owner)]
                        await verify_tree(
                            conn,
                            owner,
                            signer.origin(owner),
                            verifier,
                            mine,
                            found.append,
                            lambda n: bar.update(trees, completed=n),
                        )
                for kept in trusted:
                    if not any(kept.origin == signer.origin(a) for a in accounts):
                        found.append(Mismatch(kept.origin, "saved checkpoint", "no such log"))
            # The catch-up projections: rebuilt into shadow tables, compared row by row.
            try:
                differences = await compare_projection(pool, ANALYTICS.name)
            except Busy as busy:
                differences = [f"not compared: {busy}"]
            found.extend(Mismatch("*", ANALYTICS.name, line) for line in differences)

        uvloop.run(_with_pool(ready, run))
    for mismatch in found:
        print(mismatch)
    print(f"{len(found)} mismatch{'es' if len(found) != 1 else ''}")
    raise typer.Exit(1 if found else 0)


def audit_export(
    account: Annotated[str, typer.Option(help="The account whose log to export")],
    out: Annotated[Path, typer.Option(help="Directory to write the bundle into")],
) -> None:
    """Seal what is committed, then write the account's audit bundle and its verifier."""
    out.mkdir(parents=True, exist_ok=True)
    with database(load_settings()) as ready:
        sealer = _sealer(ready)

        async def run(pool: asyncpg.Pool) -> None:
            await catch_up(pool, sealer)
            async with pool.acquire() as conn:
                async with conn.transaction():
                    await sealer.seal_now(conn, account)
                async with conn.transaction(isolation="repeatable_read"):
                    total = await conn.fetchval(
                        "SELECT max(tree_size) FROM audit_checkpoints WHERE account_id = $1",
                        account,
                    )
                    with Progress(*COLUMNS, console=err) as bar:
                        task = bar.add_task("exporting", total=total or 0)
                        manifest = await export_bundle(
                            conn, account, sealer.signer, out, lambda n: bar.advance(task, n)
                        )
            print(
                f"wrote {manifest['events']} events and {manifest['checkpoints']} checkpoints "
                f"to {out}; check them with: python {out / 'verify_bundle.py'} {out}"
            )

        uvloop.run(_with_pool(ready, run))


def register(cli: typer.Typer) -> None:
    cli.command()(seal)
    cli.command()(verify)
    cli.command(name="audit-export")(audit_export)
