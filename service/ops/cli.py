"""`python -m service ...`: serve, token, migrate, import, seed."""

from __future__ import annotations

import secrets
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit, urlunsplit

import structlog
import typer
import uvloop
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from eventstore.pool import connect
from projections.audit.signer import load_or_create_key
from service.api.auth import ALL_SCOPES, issue_token
from service.commands.caller import Caller
from service.database import migrate_schema, open_pool
from service.logging import configure_logging
from service.ops.bulk_import import import_lines, refresh_statistics
from service.ops.demo import seed_demo
from service.ops.embedded_postgres import EmbeddedPostgres
from service.ops.serving import owned_database, run_service
from service.settings import Settings

cli = typer.Typer(add_completion=False, no_args_is_help=True, help=__doc__)
err = Console(stderr=True)


def load_settings() -> Settings:
    settings = Settings()
    if not settings.jwt_secret and not settings.jwt_public_key_file:
        # Local use: one secret generated on first start and kept beside the data.
        settings = settings.model_copy(update={"jwt_secret": local_secret(settings.data_dir)})
    if not settings.audit_signing_key_file and not settings.database_url:
        # Embedded mode: one signing key, generated once, kept beside the data.
        key_file = settings.data_dir.resolve() / "audit-signing-key.pem"
        load_or_create_key(key_file)
        settings = settings.model_copy(update={"audit_signing_key_file": key_file})
    if not settings.database_url and not settings.analyst_password:
        password = local_secret(settings.data_dir, "analyst-password")
        settings = settings.model_copy(update={"analyst_password": password})
    return settings


def local_secret(data_dir: Path, name: str = "jwt-secret") -> str:
    path = data_dir / name
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(48))
    return path.read_text().strip()


@contextmanager
def database(settings: Settings) -> Iterator[Settings]:
    """The configured server, or an embedded cluster under DATA_DIR for the duration."""
    if settings.database_url:
        yield settings
        return
    with EmbeddedPostgres(settings.data_dir.resolve() / "postgres") as cluster:
        yield settings.model_copy(update={"database_url": cluster.dsn})


def banner(settings: Settings) -> str:
    assert settings.jwt_secret
    token = issue_token(
        settings.jwt_secret,
        audience=settings.jwt_audience,
        account_id=settings.demo_account,
        scopes=ALL_SCOPES,
        client_id="local-demo",
        ttl_seconds=24 * 3600,
        issuer=settings.jwt_issuer,
    )
    base = f"http://{settings.host}:{settings.port}"
    return (
        f"\nAccess token (account {settings.demo_account}, all scopes, 24 h):\n\n"
        f"export TOKEN={token}\n\n"
        f'curl -H "Authorization: Bearer $TOKEN" "{base}/v3/accounting/records?limit=2"\n'
        f'curl -H "Authorization: Bearer $TOKEN" "{base}/v3/accounting/integration"\n'
    )


@cli.command()
def serve(
    demo: Annotated[bool, typer.Option(help="Seed the demo account on first start")] = True,
) -> None:
    """Serve the API (embedded PostgreSQL unless DATABASE_URL is set)."""
    configured = Settings()
    settings = load_settings()
    configure_logging(settings.log_format, settings.log_level)
    log = structlog.get_logger("service")
    where = "DATABASE_URL" if settings.database_url else f"embedded, {settings.data_dir.resolve()}"
    with owned_database(settings) as (ready, cluster):
        if demo:
            uvloop.run(_seed(ready, ready.demo_account, 300))
        # A live token is printed only for local use: an embedded cluster and a secret we made.
        if cluster is not None and not (configured.jwt_secret or configured.jwt_public_key_file):
            print(banner(ready), flush=True)
        if not settings.database_url and ready.database_url:
            print(analyst_banner(ready.database_url), flush=True)
        log.info("starting", database=where)
        code = run_service(ready, cluster)
    log.info("stopped", database=where, exit_status=code)
    raise typer.Exit(code)


def analyst_banner(dsn: str) -> str:
    """How to query the embedded cluster as the read-only analyst (its socket, trust auth)."""
    parts = urlsplit(dsn)
    as_analyst = urlunsplit(parts._replace(netloc="analyst@"))
    return f'Analysts (read-only, schema analytics):\n\npsql "{as_analyst}"\n'


@cli.command()
def token(
    account: Annotated[str, typer.Option(help="account_id claim (the tenant)")],
    scope: Annotated[str, typer.Option(help="space-separated scopes")] = " ".join(ALL_SCOPES),
    client: Annotated[str, typer.Option(help="sub claim (client id)")] = "local-client",
    ttl: Annotated[int, typer.Option(help="lifetime in seconds")] = 3600,
) -> None:
    """Print an access token signed with the configured secret."""
    settings = load_settings()
    if not settings.jwt_secret:
        err.print("JWT_SECRET is not set: tokens for RS256 keys come from your identity provider")
        raise typer.Exit(2)
    print(
        issue_token(
            settings.jwt_secret,
            audience=settings.jwt_audience,
            account_id=account,
            scopes=scope.split(),
            client_id=client,
            ttl_seconds=ttl,
            issuer=settings.jwt_issuer,
        )
    )


@cli.command(name="migrate")
def migrate_command() -> None:
    """Apply pending database migrations."""

    async def run(dsn: str) -> list[str]:
        conn = await connect(dsn)
        try:
            return await migrate_schema(conn)
        finally:
            await conn.close()

    with database(load_settings()) as ready:
        assert ready.database_url
        applied = uvloop.run(run(ready.database_url))
    print("applied: " + (", ".join(applied) or "nothing (up to date)"))


@cli.command(name="import")
def import_command(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines file")],
    account: Annotated[str, typer.Option(help="account the records belong to")],
    batch_size: Annotated[int, typer.Option(min=1, max=5000)] = 1000,
) -> None:
    """Load records (one JSON object with `id` per line) through the domain deciders."""
    with database(load_settings()) as ready:
        rejected = uvloop.run(_import(ready, file, account, batch_size))
    raise typer.Exit(1 if rejected else 0)


async def _import(settings: Settings, file: Path, account: str, batch_size: int) -> int:
    assert settings.database_url
    pool = await open_pool(settings.database_url, max_size=2)
    total = sum(1 for _ in file.open(encoding="utf-8", errors="surrogateescape"))
    caller = Caller(account, "cli:import", "import-" + uuid.uuid4().hex[:12])
    try:
        columns = (
            TextColumn("importing"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeRemainingColumn(),
        )
        with (
            Progress(*columns, console=err) as progress,
            file.open(encoding="utf-8", errors="surrogateescape") as lines,
        ):
            task = progress.add_task("import", total=total)
            report = await import_lines(
                pool,
                caller,
                enumerate(lines, start=1),
                batch_size=batch_size,
                progress=lambda n: progress.advance(task, n),
            )
        if report.created or report.revised:
            await refresh_statistics(pool)
    finally:
        await pool.close()
    for rejection in report.rejected:
        err.print(f"line {rejection.line}: {rejection.reason}", markup=False, highlight=False)
    print(
        f"created {report.created}, revised {report.revised}, unchanged {report.unchanged}, "
        f"rejected {len(report.rejected)}"
    )
    return len(report.rejected)


@cli.command()
def seed(
    demo: Annotated[bool, typer.Option("--demo", help="Seed the demo data set")] = False,
    account: Annotated[str | None, typer.Option(help="account to fill")] = None,
    count: Annotated[int, typer.Option(min=1, max=100_000)] = 300,
) -> None:
    """Fill an account with realistic demo data (once)."""
    if not demo:
        err.print("nothing to seed: pass --demo")
        raise typer.Exit(2)
    settings = load_settings()
    with database(settings) as ready:
        uvloop.run(_seed(ready, account or ready.demo_account, count))


async def _seed(settings: Settings, account: str, count: int) -> None:
    assert settings.database_url
    pool = await open_pool(settings.database_url, max_size=2)
    try:
        report = await seed_demo(pool, account, count)
    finally:
        await pool.close()
    if report is None:
        print(f"account {account} already has data: not seeded again", file=sys.stderr)
    else:
        print(f"seeded account {account}: {report.created} records", file=sys.stderr)
