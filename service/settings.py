"""Configuration from the environment (see README: Configuration)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    database_url: str | None = Field(
        default=None, description="PostgreSQL DSN; unset: run an embedded cluster in DATA_DIR"
    )
    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path(".data")
    log_format: Literal["json", "console"] = "console"
    log_level: str = "info"

    jwt_secret: str | None = Field(default=None, description="HS256 key for access tokens")
    jwt_public_key_file: Path | None = Field(
        default=None, description="PEM public key or JWKS file for RS256 tokens"
    )
    jwt_audience: str = "accounting-api"
    jwt_issuer: str | None = None

    db_pool_min: int = 2
    db_pool_max: int = 10
    db_command_timeout: float = 30.0
    max_body_bytes: int = 1024 * 1024
    export_conflict_retries: int = 10
    demo_account: str = "acct_demo"
    audit_signing_key_file: Path | None = Field(
        default=None,
        description="Ed25519 private key (PEM) that signs the account logs' checkpoints; "
        "embedded mode generates one into DATA_DIR",
    )
    audit_key_name: str = Field(
        default="accounting-export.local",
        pattern=r"^[^\s+]+$",
        description="The signed-note key name, and the prefix of every log's origin",
    )
    audit_checkpoint_events: int = Field(default=1000, ge=1)
    audit_checkpoint_seconds: float = Field(default=5.0, gt=0)
    analyst_password: str | None = Field(
        default=None,
        description="Password of the read-only `analyst` role; unset: it cannot log in "
        "(embedded: generated into DATA_DIR/analyst-password)",
    )
    group_commit: bool = Field(
        default=True, description="Write concurrent small commands together (one statement)"
    )
    group_commit_max: int = Field(default=64, ge=1, description="Commands in one group write")
    group_commit_parallel: int = Field(default=3, ge=1, description="Group writes under way")
    catchup_process: bool = Field(
        default=True,
        description="Run them in a child process (another core) rather than the request loop",
    )
    catchup_in_service: bool = Field(
        default=True, description="The service runs the catch-up projectors (sealer, analytics)"
    )

    # Limits and timeouts (README: Limits and timeouts).
    db_statement_timeout: float = 20.0
    db_idle_in_transaction_timeout: float = 60.0
    db_connect_timeout: float = 5.0
    request_timeout: float = 60.0
    max_concurrent_requests: int = 256
    http_idle_timeout: float = 30.0
    http_max_line_bytes: int = 128 * 1024
    http_max_header_bytes: int = 16 * 1024
    shutdown_timeout: float = 15.0
    embedded_restart_deadline: float = 60.0
