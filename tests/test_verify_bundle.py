"""The auditor's standalone bundle verifier, run as a separate process on a copy of it."""

from __future__ import annotations

import ast
import base64
import itertools
import json
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from eventstore.canonical import (
    GENESIS,
    canonical_event,
    canonical_json,
    chain_hash,
    format_instant,
    normalize_numbers,
)
from projections.audit.merkle import (
    NodeId,
    append_leaves,
    consistency_plan,
    leaf_hash,
    root_from_border,
)
from projections.audit.notes import (
    format_checkpoint,
    generate_key,
    public_key_bytes,
    sign_note,
    verifier_key,
)

VERIFIER = Path(__file__).resolve().parent.parent / "service" / "ops" / "verify_bundle.py"
ACCOUNT = "acc-7"
ORIGIN = "accounting.example/audit/acc-7"
EVENTS = 60
CHECKPOINT_SIZES = (1, 8, 13, 32, 50, 58)  # the last two events are not yet signed
VENDORS = ["Café Müller", "東京商事", "Ωmega 😀", 'quote " and \\ back\nslash', "plain"]


@dataclass(frozen=True)
class Bundle:
    path: Path
    key: Ed25519PrivateKey
    notes: dict[int, str]  # checkpoint note by tree size


def _event_lines(rng: random.Random) -> list[dict[str, Any]]:
    versions: dict[str, int] = {}
    hashes: dict[str, bytes] = {}
    start = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    lines = []
    for i in range(EVENTS):
        stream = f"record-{rng.randrange(6)}"
        version = versions.get(stream, 0) + 1
        data = normalize_numbers(
            {
                "amount": Decimal(rng.randrange(-(10**6), 10**6)).scaleb(-2),
                "vendor": rng.choice(VENDORS),
                "lines": [{"qty": rng.randrange(1, 9), "rate": Decimal("1E-7")}],
                "flags": {"z": rng.random() < 0.5, "a": None},
            }
        )
        metadata = {"client_id": "connector-1", "request_id": f"req-{i}"}
        fields: dict[str, Any] = {
            "account_id": ACCOUNT,
            "stream_id": stream,
            "version": version,
            "type": "RecordReported" if version > 1 else "RecordCreated",
            "schema_version": 1,
            "data": data,
            "metadata": metadata,
        }
        recorded_at = start + timedelta(microseconds=1234 * i)
        prev = hashes.get(stream, GENESIS)
        digest = chain_hash(prev, canonical_event(recorded_at=recorded_at, **fields))
        versions[stream], hashes[stream] = version, digest
        lines.append(
            {
                "leaf_index": i,
                "position": 3 * i + 1,
                **fields,
                "recorded_at": format_instant(recorded_at),
                "prev_hash": prev.hex(),
                "hash": digest.hex(),
            }
        )
    return lines


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> None:
    # canonical_json writes numbers exactly as stored (plain digits, scale kept).
    path.write_text("".join(canonical_json(row) + "\n" for row in rows), encoding="utf-8")


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    return [json.loads(line, parse_float=Decimal) for line in lines]


def build_bundle(path: Path, seed: int = 7, key: Ed25519PrivateKey | None = None) -> Bundle:
    rng = random.Random(seed)
    key = key or generate_key()
    lines = _event_lines(rng)
    appended = append_leaves(0, (), [leaf_hash(bytes.fromhex(e["hash"])) for e in lines])
    nodes: dict[NodeId, bytes] = {(level, index): h for level, index, h in appended.nodes}

    notes: dict[int, str] = {}
    checkpoints = []
    for size in CHECKPOINT_SIZES:
        root = root_from_border(append_leaves(0, (), [nodes[(0, i)] for i in range(size)]).border)
        notes[size] = sign_note(format_checkpoint(ORIGIN, size, root), ORIGIN, key)
        checkpoints.append(
            {
                "tree_size": size,
                "root_hash": base64.b64encode(root).decode(),
                "created_at": f"2024-05-01T09:00:{size:02d}.000000Z",
                "note": notes[size],
            }
        )
    proofs = [
        {
            "from_size": m,
            "to_size": n,
            "proof": [base64.b64encode(h).decode() for h in consistency_plan(m, n).assemble(nodes)],
        }
        for m, n in itertools.pairwise(CHECKPOINT_SIZES)
    ]

    path.mkdir()
    manifest = {
        "format": "accounting-audit-bundle/1",
        "account_id": ACCOUNT,
        "origin": ORIGIN,
        "events": EVENTS,
        "checkpoints": len(CHECKPOINT_SIZES),
    }
    (path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    write_jsonl(path / "events.jsonl", lines)
    write_jsonl(path / "checkpoints.jsonl", checkpoints)
    write_jsonl(path / "consistency.jsonl", proofs)
    public = key.public_key()
    key_file = {
        "key_name": ORIGIN,
        "algorithm": "Ed25519",
        "public_key": base64.b64encode(public_key_bytes(public)).decode(),
        "verifier_key": verifier_key(ORIGIN, public),
    }
    (path / "public-key.json").write_text(json.dumps(key_file), encoding="utf-8")
    return Bundle(path, key, notes)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Bundle:
    return build_bundle(tmp_path_factory.mktemp("bundle") / "bundle")


@pytest.fixture
def bundle(pristine: Bundle, tmp_path: Path) -> Bundle:
    copy = tmp_path / "bundle"
    shutil.copytree(pristine.path, copy)
    return Bundle(copy, pristine.key, pristine.notes)


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # A copy away from the project's tree: it runs with nothing of ours beside it.
    copy = tmp_path_factory.mktemp("auditor") / "verify_bundle.py"
    shutil.copy(VERIFIER, copy)
    return copy


def run(verifier: Path, bundle: Path, *args: str) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-I", str(verifier), str(bundle), *args],
        cwd=verifier.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout + done.stderr


def edit_events(bundle: Bundle, change: Callable[[list[dict[str, Any]]], object]) -> None:
    lines = read_jsonl(bundle.path / "events.jsonl")
    change(lines)
    write_jsonl(bundle.path / "events.jsonl", lines)


def test_the_verifier_imports_only_the_standard_library_and_cryptography() -> None:
    imported = set()
    for node in ast.walk(ast.parse(VERIFIER.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            assert node.level == 0
            imported.add(node.module.split(".")[0])
    assert imported - set(sys.stdlib_module_names) == {"cryptography"}


def test_an_intact_bundle_verifies(verifier: Path, bundle: Bundle) -> None:
    code, output = run(verifier, bundle.path)
    assert code == 0, output
    assert "OK:" in output
    assert f"{EVENTS} events" in output
    assert "2 events after the latest checkpoint are not yet signed" in output


def test_checkpoints_saved_earlier_verify_against_an_intact_bundle(
    verifier: Path, bundle: Bundle, tmp_path: Path
) -> None:
    saved = []
    for size in (8, 58):
        saved += ["--trusted-checkpoint", str(tmp_path / f"{size}.note")]
        (tmp_path / f"{size}.note").write_text(bundle.notes[size], encoding="utf-8")
    key = verifier_key(ORIGIN, bundle.key.public_key())
    code, output = run(verifier, bundle.path, *saved, "--verifier-key", key)
    assert code == 0, output


def test_an_edited_event_is_named(verifier: Path, bundle: Bundle) -> None:
    def edit(lines: list[dict[str, Any]]) -> None:
        lines[5]["data"]["amount"] = Decimal("999999.99")

    edit_events(bundle, edit)
    code, output = run(verifier, bundle.path)
    assert code == 1
    assert "leaf 5 (events.jsonl line 6" in output
    assert "the hash does not match the event's content" in output


def test_a_deleted_event_is_named(verifier: Path, bundle: Bundle) -> None:
    lines = read_jsonl(bundle.path / "events.jsonl")
    gone = lines[20]
    later = next(e for e in lines[21:] if e["stream_id"] == gone["stream_id"])
    edit_events(bundle, lambda rows: rows.pop(20))
    code, output = run(verifier, bundle.path)
    assert code == 1
    assert "leaf_index 21 follows 19" in output
    assert f"stream '{gone['stream_id']}', version {later['version']}): follows version" in output
    assert "checkpoint of size 32" in output
    assert "history was changed" in output


def test_swapped_events_are_named(verifier: Path, bundle: Bundle) -> None:
    def swap(lines: list[dict[str, Any]]) -> None:
        lines[10], lines[11] = lines[11], lines[10]

    edit_events(bundle, swap)
    code, output = run(verifier, bundle.path)
    assert code == 1
    assert "leaf_index 11 follows 9" in output
    assert "leaf_index 10 follows 11" in output
    assert "checkpoint of size 13" in output


def test_a_truncated_tail_is_caught_by_the_latest_checkpoint(
    verifier: Path, bundle: Bundle
) -> None:
    edit_events(bundle, lambda lines: lines.__delitem__(slice(55, None)))
    code, output = run(verifier, bundle.path)
    assert code == 1
    assert "checkpoint of size 58" in output
    assert "signed for 58 events but the bundle holds 55: the log was truncated" in output


def test_a_truncated_log_with_its_checkpoints_is_caught_by_a_saved_checkpoint(
    verifier: Path, bundle: Bundle, tmp_path: Path
) -> None:
    # Cut back to 40 events, dropping the checkpoints and proofs past it: self-consistent.
    edit_events(bundle, lambda lines: lines.__delitem__(slice(40, None)))
    for name, size_key in (("checkpoints.jsonl", "tree_size"), ("consistency.jsonl", "to_size")):
        rows = [r for r in read_jsonl(bundle.path / name) if r[size_key] <= 40]
        write_jsonl(bundle.path / name, rows)
    manifest = json.loads((bundle.path / "manifest.json").read_text())
    manifest.update(events=40, checkpoints=4)
    (bundle.path / "manifest.json").write_text(json.dumps(manifest))
    assert run(verifier, bundle.path)[0] == 0

    saved = tmp_path / "saved-58.note"
    saved.write_text(bundle.notes[58], encoding="utf-8")
    code, output = run(verifier, bundle.path, "--trusted-checkpoint", str(saved))
    assert code == 1
    assert f"trusted checkpoint {saved} (size 58)" in output
    assert "the log was truncated" in output


def test_a_saved_checkpoint_of_another_history_is_caught(
    verifier: Path, bundle: Bundle, tmp_path: Path
) -> None:
    # The log showed this auditor a different history, and signed it with the same key.
    fork = build_bundle(tmp_path / "fork", seed=8, key=bundle.key)
    saved = tmp_path / "fork-13.note"
    saved.write_text(fork.notes[13], encoding="utf-8")
    code, output = run(verifier, bundle.path, "--trusted-checkpoint", str(saved))
    assert code == 1
    assert f"trusted checkpoint {saved} (size 13): the bundle's first 13 events" in output
    assert "history was changed" in output


def _edit_checkpoint(bundle: Bundle, size: int, change: Callable[[dict[str, Any]], None]) -> None:
    rows = read_jsonl(bundle.path / "checkpoints.jsonl")
    change(next(row for row in rows if row["tree_size"] == size))
    write_jsonl(bundle.path / "checkpoints.jsonl", rows)


def test_a_signature_by_another_key_is_caught(verifier: Path, bundle: Bundle) -> None:
    forger = Ed25519PrivateKey.generate()

    def forge(row: dict[str, Any]) -> None:
        text = row["note"].split("\n\n")[0] + "\n"
        row["note"] = sign_note(text, ORIGIN, forger)

    _edit_checkpoint(bundle, 32, forge)
    code, output = run(verifier, bundle.path)
    assert code == 1
    assert (
        "checkpoint of size 32 (checkpoints.jsonl line 4): the note has no signature by" in output
    )


def test_a_forged_signature_under_our_key_id_is_caught(verifier: Path, bundle: Bundle) -> None:
    def forge(row: dict[str, Any]) -> None:
        text, line = row["note"].split("\n\n")
        blob = bytearray(base64.b64decode(line.split(" ")[2]))
        blob[20] ^= 0x40
        row["note"] = f"{text}\n\n\u2014 {ORIGIN} {base64.b64encode(bytes(blob)).decode()}\n"

    _edit_checkpoint(bundle, 13, forge)
    code, output = run(verifier, bundle.path)
    assert code == 1
    assert "checkpoint of size 13 (checkpoints.jsonl line 3): the signature by" in output
    assert "does not verify" in output


def test_a_changed_checkpoint_root_is_caught(verifier: Path, bundle: Bundle) -> None:
    other = base64.b64encode(bytes(range(32))).decode()

    def in_the_listing(row: dict[str, Any]) -> None:
        row["root_hash"] = other

    def in_the_note(row: dict[str, Any]) -> None:
        root = row["note"].split("\n")[2]
        row["note"] = row["note"].replace(f"\n{root}\n", f"\n{other}\n", 1)

    _edit_checkpoint(bundle, 8, in_the_listing)
    _edit_checkpoint(bundle, 50, in_the_note)
    code, output = run(verifier, bundle.path)
    assert code == 1
    assert "checkpoint of size 8 (checkpoints.jsonl line 2): root_hash differs" in output
    assert "checkpoint of size 50 (checkpoints.jsonl line 5): the signature by" in output


def test_a_signed_checkpoint_over_another_root_is_caught(verifier: Path, bundle: Bundle) -> None:
    # Signed with the log's own key: only recomputing the tree shows it lies.
    wrong = bytes(range(32))

    def resign(row: dict[str, Any]) -> None:
        row["root_hash"] = base64.b64encode(wrong).decode()
        row["note"] = sign_note(format_checkpoint(ORIGIN, 32, wrong), ORIGIN, bundle.key)

    _edit_checkpoint(bundle, 32, resign)
    code, output = run(verifier, bundle.path)
    assert code == 1
    assert (
        "checkpoint of size 32 (checkpoints.jsonl line 4): the bundle's first 32 events" in output
    )
    assert "the proof from size 13 to size 32 does not verify" in output
    assert "the proof from size 32 to size 50 does not verify" in output


def test_a_pinned_key_must_be_the_bundles(verifier: Path, bundle: Bundle) -> None:
    other = verifier_key(ORIGIN, generate_key().public_key())
    code, output = run(verifier, bundle.path, "--verifier-key", other)
    assert code == 1
    assert f"not {other}" in output


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (lambda line: "garbage", "not JSON (Expecting value"),
        # A repeated key could show a reader one value while the hash covers the other.
        (
            lambda line: line.replace('"type":', '"type":"Other","type":', 1),
            "not JSON (an object repeats a key)",
        ),
        (
            lambda line: line.replace('"version":', '"version":"2","was":', 1),
            "'version' is missing or not an integer",
        ),
    ],
)
def test_an_unreadable_event_line_is_named(
    verifier: Path, bundle: Bundle, change: Callable[[str], str], reason: str
) -> None:
    path = bundle.path / "events.jsonl"
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[20] = change(lines[20])
    path.write_text("\n".join(lines), encoding="utf-8")
    code, output = run(verifier, bundle.path)
    assert code == 1
    assert f"events.jsonl line 21: {reason}" in output
    assert (
        "checkpoint of size 32 (checkpoints.jsonl line 4): its root cannot be recomputed: "
        "events.jsonl line 21 could not be read"
    ) in output
    assert "checkpoint of size 13" not in output  # the events before it still check out
