"""Running the PostgreSQL programs as the account they need: initdb and postgres refuse to
run as root, so as root they run as the `postgres` account, on files handed over to it."""

from __future__ import annotations

import os
import pwd
import stat
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SERVER_ACCOUNT = "postgres"


def server_account() -> pwd.struct_passwd | None:
    """The account to run the server as; None when we are not root (run as ourselves)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVER_ACCOUNT)
    except KeyError:
        raise RuntimeError(
            f"Running as root, but there is no {SERVER_ACCOUNT!r} user to run PostgreSQL as "
            "(initdb and postgres refuse to run as root). Create it (it comes with "
            "apt-get install postgresql) or run as an unprivileged user."
        ) from None


def run_tool(
    program: Path | str, *args: str, new_session: bool = False
) -> subprocess.CompletedProcess[str]:
    """Run a PostgreSQL program as the server account, in a clean environment."""
    # PG* variables (PGPORT, PGHOST, PGDATABASE...) would redirect the tools elsewhere.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["PGCONNECT_TIMEOUT"] = "10"
    as_account: dict[str, Any] = {}
    account = server_account()
    if account is not None:
        as_account = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        env |= {"HOME": account.pw_dir, "USER": account.pw_name, "LOGNAME": account.pw_name}
    return subprocess.run(
        [str(program), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        cwd="/",  # the server account may not be allowed into our working directory
        start_new_session=new_session,
        **as_account,
    )


def hand_over(paths: Sequence[Path], pgdata: Path) -> None:
    """Give `paths` and the data directory to the server account, and let it reach them."""
    account = server_account()
    if account is None:
        return
    uid, gid = account.pw_uid, account.pw_gid
    for path in paths:
        if path.exists():
            os.chown(path, uid, gid)
    if pgdata.exists() and pgdata.stat().st_uid != uid:
        for root, dirs, files in os.walk(pgdata):
            for name in [".", *dirs, *files]:
                os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)
    for path in paths:
        _make_reachable(path, uid, gid)


def _make_reachable(path: Path, uid: int, gid: int) -> None:
    # The server account must be able to search every parent (pytest's tmp dirs are
    # root-owned 0700): grant just the search bit that applies to it where it is missing.
    for parent in reversed(path.parents):
        st = parent.stat()
        if st.st_uid == uid:
            bit = stat.S_IXUSR
        elif st.st_gid == gid:
            bit = stat.S_IXGRP
        else:
            bit = stat.S_IXOTH
        if not st.st_mode & bit:
            parent.chmod(stat.S_IMODE(st.st_mode) | bit)
