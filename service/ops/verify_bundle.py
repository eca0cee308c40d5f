"""Verify an account's audit bundle offline: python verify_bundle.py BUNDLE_DIR.

This file stands alone on purpose: it needs the Python standard library and the
`cryptography` package, nothing from the service that wrote the bundle. It
re-implements, from the published specifications, the canonical event bytes and
stream hash chains (as the service's README documents them), the RFC 9162 Merkle
tree and consistency proofs, and C2SP signed notes and checkpoints. That
duplication is deliberate: an auditor should not have to trust our code to check
our log. Change it only to follow the specifications, never to import ours.

Checks: each event's canonical bytes and hash, each stream's chain (versions
contiguous from 1, prev_hash the previous version's hash, 32 zero bytes first);
leaf indexes contiguous from 0; each checkpoint's Ed25519 signature, origin, size
and root (recomputed from the events in one pass, keeping only the tree's right
border); the consistency proof between successive checkpoints; and each checkpoint
the auditor saved earlier (--trusted-checkpoint), which catches a truncated or
rewritten history. Exits 0 when everything verifies, else prints every problem and
exits 1.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import itertools
import json
import re
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, Final, TypeVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

FORMAT: Final = "accounting-audit-bundle/1"
GENESIS: Final = bytes(32)
EMPTY_ROOT: Final = hashlib.sha256(b"").digest()
INSTANT: Final = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
HEX_HASH: Final = re.compile(r"[0-9a-f]{64}")
TREE_SIZE: Final = re.compile(r"0|[1-9][0-9]*")
SIGNATURE_PREFIX: Final = "\u2014 "  # em dash, space
ED25519: Final = b"\x01"

T = TypeVar("T")


class Invalid(Exception):
    """One thing in the bundle that is not what it should be (the message says what)."""


# --- Reading JSON -------------------------------------------------------------------


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # A repeated key would let a reader see one value while the hash covers another.
    result = dict(pairs)
    if len(result) != len(pairs):
        raise Invalid("an object repeats a key")
    return result


def _no_constant(name: str) -> Any:
    raise Invalid(f"{name} is not a JSON number")


def parse_json(text: str) -> Any:
    # Decimal, never float: the hash covers the digits exactly as stored.
    return json.loads(
        text,
        parse_float=Decimal,
        parse_constant=_no_constant,
        object_pairs_hook=_no_duplicate_keys,
    )


JSON_TYPES: Final = {str: "a string", int: "an integer", dict: "an object", list: "an array"}


def field_of(obj: Mapping[str, Any], key: str, kind: type[T]) -> T:
    value = obj.get(key)
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Invalid(f"{key!r} is missing or not {JSON_TYPES.get(kind, kind.__name__)}")
    return value


def hex_hash(obj: Mapping[str, Any], key: str) -> bytes:
    value = field_of(obj, key, str)
    if not HEX_HASH.fullmatch(value):
        raise Invalid(f"{key!r} is not 64 lowercase hex digits")
    return bytes.fromhex(value)


def b64(text: str, what: str) -> bytes:
    try:
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise Invalid(f"{what} is not base64") from None


def read_object(path: Path) -> dict[str, Any]:
    try:
        value = parse_json(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, Invalid) as exc:
        raise Invalid(f"{path.name}: cannot be read: {exc}") from None
    if not isinstance(value, dict):
        raise Invalid(f"{path.name}: not a JSON object")
    return value


def read_lines(path: Path) -> Iterator[tuple[int, dict[str, Any] | Invalid]]:
    """(line number, object or the reason it is not one), streaming."""
    # Lines end at "\n" only: JSON text escapes every other line break.
    with path.open(encoding="utf-8", newline="\n") as lines:
        for number, line in enumerate(lines, start=1):
            try:
                value = parse_json(line)
            except (ValueError, Invalid) as exc:
                yield number, Invalid(f"not JSON ({exc})")
                continue
            yield number, value if isinstance(value, dict) else Invalid("not a JSON object")


# --- Canonical event bytes and the stream chain ---------------------------------------


def canonical_json(value: Any) -> str:
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise Invalid(f"{value} is not a JSON number")
        # As PostgreSQL numeric prints it: positional, scale kept, never "-0".
        text = format(value, "f")
        return text[1:] if value.is_zero() and text.startswith("-") else text
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(item) for item in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{canonical_json(k)}:{canonical_json(v)}" for k, v in items) + "}"
    raise Invalid(f"not a JSON value: {type(value).__name__}")


@dataclass(frozen=True)
class Event:
    line: int
    leaf_index: int
    position: int
    account_id: str
    stream_id: str
    version: int
    prev_hash: bytes
    hash: bytes
    canonical: bytes

    def label(self) -> str:
        return (
            f"leaf {self.leaf_index} (events.jsonl line {self.line}, position {self.position}, "
            f"stream {self.stream_id!r}, version {self.version})"
        )


def read_event(line: int, obj: Mapping[str, Any]) -> Event:
    account_id = field_of(obj, "account_id", str)
    stream_id = field_of(obj, "stream_id", str)
    version = field_of(obj, "version", int)
    recorded_at = field_of(obj, "recorded_at", str)
    if not INSTANT.fullmatch(recorded_at):
        raise Invalid("'recorded_at' is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    canonical = {
        "account_id": account_id,
        "data": field_of(obj, "data", dict),
        "metadata": field_of(obj, "metadata", dict),
        "recorded_at": recorded_at,
        "schema_version": field_of(obj, "schema_version", int),
        "stream_id": stream_id,
        "type": field_of(obj, "type", str),
        "version": version,
    }
    return Event(
        line=line,
        leaf_index=field_of(obj, "leaf_index", int),
        position=field_of(obj, "position", int),
        account_id=account_id,
        stream_id=stream_id,
        version=version,
        prev_hash=hex_hash(obj, "prev_hash"),
        hash=hex_hash(obj, "hash"),
        canonical=canonical_json(canonical).encode("utf-8"),
    )


# --- RFC 9162 Merkle tree -------------------------------------------------------------


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


@dataclass
class Tree:
    """The tree's right border only: one perfect subtree per set bit of the size."""

    size: int = 0
    border: list[tuple[int, bytes]] = field(default_factory=list)

    def append(self, leaf: bytes) -> None:
        current, height = hashlib.sha256(b"\x00" + leaf).digest(), 0
        while self.border and self.border[-1][0] == height:
            current = node_hash(self.border.pop()[1], current)
            height += 1
        self.border.append((height, current))
        self.size += 1

    def root(self) -> bytes:
        if not self.border:
            return EMPTY_ROOT
        root = self.border[-1][1]
        for _, left in reversed(self.border[:-1]):
            root = node_hash(left, root)
        return root


def consistent(m: int, n: int, proof: Sequence[bytes], root_m: bytes, root_n: bytes) -> bool:
    """RFC 9162 §2.1.4.2; from an empty tree any tree follows, with an empty proof."""
    if not 0 <= m <= n or any(len(h) != 32 for h in (root_m, root_n, *proof)):
        return False
    if m == 0:
        return not proof and root_m == EMPTY_ROOT
    if m == n:
        return not proof and root_m == root_n
    if not proof:
        return False
    path = [root_m, *proof] if m & (m - 1) == 0 else list(proof)
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == root_m and sr == root_n and sn == 0


# --- C2SP signed notes and checkpoints -----------------------------------------------


@dataclass(frozen=True)
class Key:
    name: str
    public_key: bytes

    @property
    def key_id(self) -> bytes:
        return hashlib.sha256(self.name.encode() + b"\n" + ED25519 + self.public_key).digest()[:4]

    def verifier_key(self) -> str:
        typed = base64.b64encode(ED25519 + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{typed}"


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root: bytes


def open_checkpoint(note: str, key: Key) -> Checkpoint:
    """The checkpoint in a note signed by `key` (other signatures are ignored)."""
    if any(ord(c) < 0x20 and c != "\n" for c in note):
        raise Invalid("the note has control characters")
    split = note.rfind("\n\n")
    if split < 0 or not note.endswith("\n"):
        raise Invalid("not a signed note (no blank line before signatures)")
    text, signatures = note[: split + 1], note[split + 2 : -1].split("\n")
    verified = False
    for line in signatures:
        if not line.startswith(SIGNATURE_PREFIX):
            raise Invalid(f"not a signature line: {line!r}")
        name, _, blob64 = line.removeprefix(SIGNATURE_PREFIX).partition(" ")
        blob = b64(blob64, "a signature")
        if len(blob) < 5:
            raise Invalid(f"not a signature line: {line!r}")
        if name != key.name or blob[:4] != key.key_id:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(key.public_key).verify(blob[4:], text.encode())
        except InvalidSignature:
            raise Invalid(f"the signature by {key.verifier_key()} does not verify") from None
        verified = True
    if not verified:
        raise Invalid(f"the note has no signature by {key.name}+{key.key_id.hex()}")
    lines = text[:-1].split("\n")
    if len(lines) < 3 or not lines[0] or not TREE_SIZE.fullmatch(lines[1]):
        raise Invalid("the note is not a checkpoint (origin, tree size, root hash)")
    root = b64(lines[2], "the checkpoint's root hash")
    if len(root) != 32:
        raise Invalid("the checkpoint's root hash is not 32 bytes")
    return Checkpoint(lines[0], int(lines[1]), root)


def read_key(path: Path) -> Key:
    obj = read_object(path)
    try:
        if field_of(obj, "algorithm", str) != "Ed25519":
            raise Invalid("the algorithm is not Ed25519")
        key = Key(field_of(obj, "key_name", str), b64(field_of(obj, "public_key", str), "key"))
        if len(key.public_key) != 32:
            raise Invalid("the public key is not 32 bytes")
        if field_of(obj, "verifier_key", str) != key.verifier_key():
            raise Invalid(f"verifier_key is not {key.verifier_key()}")
    except Invalid as exc:
        raise Invalid(f"{path.name}: {exc}") from None
    return key


# --- The bundle -----------------------------------------------------------------------


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    facts: list[str] = field(default_factory=list)

    def problem(self, text: str) -> None:
        self.problems.append(text)


@dataclass(frozen=True)
class Signed:
    """A checkpoint whose note verified, and where it came from."""

    source: str
    checkpoint: Checkpoint


def verify(bundle: Path, trusted: Sequence[Path], pinned_key: str | None) -> Report:
    report = Report()
    try:
        manifest = read_object(bundle / "manifest.json")
        if manifest.get("format") != FORMAT:
            raise Invalid(f"manifest.json: format is not {FORMAT!r}")
        account = field_of(manifest, "account_id", str)
        origin = field_of(manifest, "origin", str)
        key = read_key(bundle / "public-key.json")
    except Invalid as exc:
        report.problem(str(exc))
        return report
    if pinned_key is not None and key.verifier_key() != pinned_key:
        report.problem(f"public-key.json: the key is {key.verifier_key()}, not {pinned_key}")
        return report

    listed = read_checkpoints(bundle / "checkpoints.jsonl", key, origin, report)
    checkpoints = [signed for signed in listed if signed]
    saved = [s for s in (read_trusted(path, key, origin, report) for path in trusted) if s]
    # The roots to compare are known before the one pass over the events.
    wanted = {signed.checkpoint.size for signed in [*checkpoints, *saved]}
    replay = replay_events(bundle / "events.jsonl", account, wanted, report)
    events = replay.events

    for signed in [*checkpoints, *saved]:
        check_root(signed, replay, report)
    check_consistency(bundle / "consistency.jsonl", listed, report)
    for name, actual in (("events", events), ("checkpoints", len(listed))):
        if manifest.get(name) != actual:
            report.problem(
                f"manifest.json: {name} is {manifest.get(name)!r}, the bundle has {actual}"
            )

    latest = checkpoints[-1].checkpoint.size if checkpoints else 0
    report.facts += [
        f"account {account!r}, log {origin!r}, key {key.verifier_key()}",
        f"{events} events in {replay.streams} streams: every hash and chain recomputed",
        f"{len(checkpoints)} signed checkpoints, the latest of {latest} events, each root "
        "recomputed from the events; consistency proofs between successive ones verified",
        f"{len(trusted)} checkpoint(s) saved earlier are consistent with this bundle"
        if trusted
        else "no checkpoint saved earlier was given (--trusted-checkpoint): a log cut back "
        "together with its checkpoints cannot be ruled out",
    ]
    if events > latest:
        report.facts.append(
            f"{events - latest} events after the latest checkpoint are not yet signed"
        )
    return report


def read_checkpoints(path: Path, key: Key, origin: str, report: Report) -> list[Signed | None]:
    """Every line's checkpoint, None where it does not verify (the report says why)."""
    listed: list[Signed | None] = []
    last_size = -1
    for line, obj in read_lines(path):
        where = f"checkpoints.jsonl line {line}"
        try:
            if isinstance(obj, Invalid):
                raise obj
            size = field_of(obj, "tree_size", int)
            where = f"checkpoint of size {size} ({where})"
            checkpoint = open_checkpoint(field_of(obj, "note", str), key)
            if checkpoint.origin != origin:
                raise Invalid(f"its origin is {checkpoint.origin!r}, not {origin!r}")
            if checkpoint.size != size:
                raise Invalid(f"its note says size {checkpoint.size}")
            if b64(field_of(obj, "root_hash", str), "root_hash") != checkpoint.root:
                raise Invalid("root_hash differs from the root in its signed note")
            if size <= last_size:
                raise Invalid("tree sizes do not increase")
            last_size = size
        except Invalid as exc:
            report.problem(f"{where}: {exc}")
            listed.append(None)
            continue
        listed.append(Signed(where, checkpoint))
    return listed


def read_trusted(path: Path, key: Key, origin: str, report: Report) -> Signed | None:
    where = f"trusted checkpoint {path}"
    try:
        checkpoint = open_checkpoint(path.read_text(encoding="utf-8"), key)
        if checkpoint.origin != origin:
            raise Invalid(f"its origin is {checkpoint.origin!r}, not {origin!r}")
    except (OSError, UnicodeDecodeError, Invalid) as exc:
        report.problem(f"{where}: {exc}")
        return None
    return Signed(f"{where} (size {checkpoint.size})", checkpoint)


@dataclass
class Replay:
    """What one pass over the events found."""

    roots: dict[int, bytes] = field(default_factory=dict)  # at each wanted tree size
    events: int = 0
    streams: int = 0
    unreadable: int | None = None  # the first events.jsonl line that could not be read


def replay_events(path: Path, account: str, wanted: set[int], report: Report) -> Replay:
    """Check every event in one pass, keeping the tree's root at each wanted size."""
    replay = Replay(roots={0: EMPTY_ROOT} if 0 in wanted else {})
    tree = Tree()
    streams: dict[str, tuple[int, bytes]] = {}  # stream -> (last version, its hash)
    previous_index = -1
    for line, obj in read_lines(path):
        replay.events += 1
        try:
            if isinstance(obj, Invalid):
                raise obj
            event = read_event(line, obj)
        except Invalid as exc:
            report.problem(f"events.jsonl line {line}: {exc}")
            # Its leaf is unknown, so are the roots from here on.
            replay.unreadable = replay.unreadable or line
            previous_index += 1
            continue
        check_event(event, previous_index, account, streams, report)
        previous_index = event.leaf_index
        streams[event.stream_id] = (event.version, event.hash)
        if replay.unreadable is None:
            tree.append(event.hash)
            if tree.size in wanted:
                replay.roots[tree.size] = tree.root()
    replay.streams = len(streams)
    return replay


def check_event(
    event: Event,
    previous_index: int,
    account: str,
    streams: Mapping[str, tuple[int, bytes]],
    report: Report,
) -> None:
    label = event.label()
    if event.leaf_index != previous_index + 1:
        report.problem(
            f"{label}: leaf_index {event.leaf_index} follows {previous_index}: "
            "events are missing or out of order"
        )
    if event.account_id != account:
        report.problem(f"{label}: account_id {event.account_id!r} is not {account!r}")
    recomputed = hashlib.sha256(event.prev_hash + event.canonical).digest()
    if recomputed != event.hash:
        report.problem(
            f"{label}: the hash does not match the event's content "
            f"(stored {event.hash.hex()}, recomputed {recomputed.hex()})"
        )
    last_version, last_hash = streams.get(event.stream_id, (0, GENESIS))
    if event.version != last_version + 1:
        before = f"version {last_version}" if last_version else "the start of the stream"
        report.problem(f"{label}: follows {before}: versions are missing or out of order")
    elif event.prev_hash != last_hash:
        report.problem(
            f"{label}: prev_hash {event.prev_hash.hex()} is not the hash of the previous "
            f"version ({last_hash.hex()})"
        )


def check_root(signed: Signed, replay: Replay, report: Report) -> None:
    size, root = signed.checkpoint.size, signed.checkpoint.root
    computed = replay.roots.get(size)
    if size > replay.events:
        report.problem(
            f"{signed.source}: signed for {size} events but the bundle holds "
            f"{replay.events}: the log was truncated"
        )
    elif computed is None:
        report.problem(
            f"{signed.source}: its root cannot be recomputed: events.jsonl line "
            f"{replay.unreadable} could not be read"
        )
    elif computed != root:
        report.problem(
            f"{signed.source}: the bundle's first {size} events have tree root "
            f"{base64.b64encode(computed).decode()}, the signed checkpoint says "
            f"{base64.b64encode(root).decode()}: history was changed"
        )


def check_consistency(path: Path, listed: Sequence[Signed | None], report: Report) -> None:
    """Each successive pair of listed checkpoints; a pair with one that did not verify is
    skipped, that one being reported already."""
    proofs: dict[tuple[int, int], list[bytes]] = {}
    for line, obj in read_lines(path):
        try:
            if isinstance(obj, Invalid):
                raise obj
            sizes = (field_of(obj, "from_size", int), field_of(obj, "to_size", int))
            proofs[sizes] = [b64(p, "a proof hash") for p in field_of(obj, "proof", list)]
        except (Invalid, TypeError) as exc:
            report.problem(f"consistency.jsonl line {line}: {exc}")
    for old, new in itertools.pairwise(listed):
        if old is None or new is None:
            continue
        m, n = old.checkpoint.size, new.checkpoint.size
        proof = proofs.get((m, n))
        if proof is None:
            report.problem(f"consistency.jsonl: no proof from size {m} to size {n}")
        elif not consistent(m, n, proof, old.checkpoint.root, new.checkpoint.root):
            report.problem(
                f"consistency.jsonl: the proof from size {m} to size {n} does not verify "
                "against the two signed roots"
            )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Verify an account's audit bundle offline.")
    parser.add_argument("bundle", type=Path, help="the directory audit-export wrote")
    parser.add_argument(
        "--trusted-checkpoint",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="a signed checkpoint note saved earlier (repeatable)",
    )
    parser.add_argument(
        "--verifier-key",
        help="the log's verifier key as published; the bundle's key must be this one",
    )
    args = parser.parse_args(argv)
    try:
        report = verify(args.bundle, args.trusted_checkpoint, args.verifier_key)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"FAILED: cannot read the bundle: {exc}")
        return 1
    if report.problems:
        for problem in report.problems:
            print(f"PROBLEM: {problem}")
        print(f"FAILED: {len(report.problems)} problem(s) in {args.bundle}")
        return 1
    print(f"OK: {args.bundle} verifies")
    for fact in report.facts:
        print(f"  {fact}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
