"""Signed checkpoints: C2SP tlog-checkpoint text in a C2SP signed note, Ed25519.

Follows https://c2sp.org/tlog-checkpoint and https://c2sp.org/signed-note, as
golang.org/x/mod/sumdb/note implements them, so that off-the-shelf transparency-log
tooling (witnesses, monitors) can read our checkpoints and keys.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

ED25519: Final = 0x01  # signature type byte of C2SP signed-note
MAX_SIGNATURES: Final = 100  # the spec asks for at least 16; Go's reader stops at 100
HASH_SIZE: Final = 32

_SIGNATURE_PREFIX: Final = "\u2014 "  # em dash, space
_SIZE: Final = re.compile(r"0|[1-9][0-9]*")
_HEX8: Final = re.compile(r"[0-9a-fA-F]{8}")


class NoteError(ValueError):
    """A note, checkpoint or key that is malformed, or a note not signed by the key."""


# --- Checkpoint text ----------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()


def format_checkpoint(
    origin: str, size: int, root_hash: bytes, extensions: Sequence[str] = ()
) -> str:
    """The checkpoint body: origin, tree size, base64 root hash, extension lines."""
    if not origin or _has_control(origin):
        raise NoteError(f"not a checkpoint origin: {origin!r}")
    if size < 0:
        raise NoteError(f"not a tree size: {size}")
    if len(root_hash) != HASH_SIZE:
        raise NoteError(f"a root hash is {HASH_SIZE} bytes, got {len(root_hash)}")
    for line in extensions:
        if not line or _has_control(line):
            raise NoteError(f"not a checkpoint extension line: {line!r}")
    lines = [origin, str(size), base64.b64encode(root_hash).decode("ascii"), *extensions]
    return "".join(line + "\n" for line in lines)


def parse_checkpoint(text: str) -> Checkpoint:
    if not text.endswith("\n"):
        raise NoteError("a checkpoint ends with a newline")
    lines = text[:-1].split("\n")
    if len(lines) < 3:
        raise NoteError("a checkpoint has an origin, a tree size and a root hash")
    origin, size, root, *extensions = lines
    if not origin:
        raise NoteError("the checkpoint origin is empty")
    if not _SIZE.fullmatch(size):
        raise NoteError(f"not a tree size: {size!r}")
    root_hash = _b64decode(root, "root hash")
    # Only the canonical spelling: two texts for one checkpoint would sign differently.
    if len(root_hash) != HASH_SIZE or base64.b64encode(root_hash).decode("ascii") != root:
        raise NoteError(f"not a base64 {HASH_SIZE}-byte root hash: {root!r}")
    if not all(extensions):
        raise NoteError("checkpoint extension lines are not empty")
    return Checkpoint(origin, int(size), root_hash, tuple(extensions))


# --- Keys -------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """A key name and the Ed25519 public key whose signatures we accept under it."""

    name: str
    public_key: Ed25519PublicKey

    @property
    def key_id(self) -> int:
        return key_id(self.name, self.public_key)

    def label(self) -> str:
        return f"{self.name}+{self.key_id:08x}"


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def public_key_bytes(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_from_bytes(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != 32:
        raise NoteError(f"an Ed25519 public key is 32 bytes, got {len(raw)}")
    return Ed25519PublicKey.from_public_bytes(raw)


def private_key_to_pem(key: Ed25519PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted: the file's permissions protect it."""
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def private_key_from_pem(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise NoteError(f"not an Ed25519 private key: {type(key).__name__}")
    return key


def key_id(name: str, public_key: Ed25519PublicKey) -> int:
    """SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key)[:4], big-endian."""
    return _key_id(name, bytes([ED25519]) + public_key_bytes(public_key))


def _key_id(name: str, typed_key: bytes) -> int:
    digest = hashlib.sha256(name.encode("utf-8") + b"\n" + typed_key).digest()
    return int.from_bytes(digest[:4], "big")


def verifier_key(name: str, public_key: Ed25519PublicKey) -> str:
    """`<name>+<key id, 8 hex digits>+<base64(0x01 ‖ public key)>`."""
    _check_name(name)
    typed = bytes([ED25519]) + public_key_bytes(public_key)
    return f"{name}+{_key_id(name, typed):08x}+{base64.b64encode(typed).decode('ascii')}"


def parse_verifier_key(vkey: str) -> Verifier:
    name, typed_key = _parse_key_text(vkey, "verifier key")
    return Verifier(name, public_key_from_bytes(typed_key[1:]))


def signer_key(name: str, private_key: Ed25519PrivateKey) -> str:
    """`PRIVATE+KEY+<name>+<key id>+<base64(0x01 ‖ seed)>`, the Go note signer key."""
    _check_name(name)
    seed = private_key.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    key = key_id(name, private_key.public_key())
    typed_seed = base64.b64encode(bytes([ED25519]) + seed).decode("ascii")
    return f"PRIVATE+KEY+{name}+{key:08x}+{typed_seed}"


def parse_signer_key(skey: str) -> tuple[str, Ed25519PrivateKey]:
    if not skey.startswith("PRIVATE+KEY+"):
        raise NoteError("a signer key starts with PRIVATE+KEY+")
    # The key id is of the public key: check it once the key is derived.
    name, key_hex, typed_seed = _split_key_text(skey.removeprefix("PRIVATE+KEY+"), "signer key")
    if len(typed_seed) != 33 or typed_seed[0] != ED25519:
        raise NoteError("not an Ed25519 signer key")
    private_key = Ed25519PrivateKey.from_private_bytes(typed_seed[1:])
    if key_id(name, private_key.public_key()) != int(key_hex, 16):
        raise NoteError("the signer key's id does not match its key")
    return name, private_key


def _split_key_text(text: str, what: str) -> tuple[str, str, bytes]:
    name, _, rest = text.partition("+")
    key_hex, _, key64 = rest.partition("+")
    if not _valid_name(name) or not _HEX8.fullmatch(key_hex):
        raise NoteError(f"malformed {what}")
    return name, key_hex, _b64decode(key64, what)


def _parse_key_text(text: str, what: str) -> tuple[str, bytes]:
    name, key_hex, typed_key = _split_key_text(text, what)
    if not typed_key or _key_id(name, typed_key) != int(key_hex, 16):
        raise NoteError(f"the {what}'s id does not match its key")
    if typed_key[0] != ED25519 or len(typed_key) != 33:
        raise NoteError(f"not an Ed25519 {what}")
    return name, typed_key


# --- Signed notes -------------------------------------------------------------------


def sign_note(text: str, key_name: str, private_key: Ed25519PrivateKey) -> str:
    """The text followed by a blank line and one Ed25519 signature line."""
    _check_text(text)
    if not text.endswith("\n"):
        raise NoteError("a note's text ends with a newline")
    _check_name(key_name)
    signature = private_key.sign(text.encode("utf-8"))
    key = key_id(key_name, private_key.public_key())
    blob = base64.b64encode(key.to_bytes(4, "big") + signature).decode("ascii")
    return f"{text}\n{_SIGNATURE_PREFIX}{key_name} {blob}\n"


def open_note(note: str, verifier: Verifier) -> str:
    """The note's text, once a signature by `verifier` checks out.

    Signatures by other keys are ignored (a witness may cosign); a signature that
    claims the verifier's name and key id but does not verify rejects the note.
    """
    _check_text(note)
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("malformed note: no blank line before the signatures")
    text, block = note[: split + 1], note[split + 2 :]
    if not block.endswith("\n"):
        raise NoteError("malformed note: no signature lines")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"malformed note: more than {MAX_SIGNATURES} signatures")
    seen: list[str] = []
    verified = False
    for line in lines:
        name, key, signature = _parse_signature_line(line)
        seen.append(f"{name}+{key:08x}")
        if name != verifier.name or key != verifier.key_id:
            continue
        if not _verifies(verifier.public_key, signature, text):
            raise NoteError(f"invalid signature for key {verifier.label()}")
        verified = True
    if not verified:
        raise NoteError(
            f"note has no signature by {verifier.label()} (signed by: {', '.join(seen)})"
        )
    return text


def _parse_signature_line(line: str) -> tuple[str, int, bytes]:
    if not line.startswith(_SIGNATURE_PREFIX):
        raise NoteError(f"malformed note: not a signature line: {line!r}")
    name, _, blob64 = line.removeprefix(_SIGNATURE_PREFIX).partition(" ")
    try:
        blob = _b64decode(blob64, "signature")
    except NoteError:
        blob = b""
    if not _valid_name(name) or len(blob) < 5:
        raise NoteError(f"malformed note: not a signature line: {line!r}")
    return name, int.from_bytes(blob[:4], "big"), blob[4:]


def _verifies(public_key: Ed25519PublicKey, signature: bytes, text: str) -> bool:
    try:
        public_key.verify(signature, text.encode("utf-8"))
    except InvalidSignature:
        return False
    return True


# --- Shared checks ------------------------------------------------------------------


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 for c in text)


def _check_text(text: str) -> None:
    # Valid UTF-8 (no lone surrogates) and no control character but newline.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("a note is valid UTF-8") from None
    if _has_control(text.replace("\n", "")):
        raise NoteError("a note has no control characters but newlines")


def _valid_name(name: str) -> bool:
    # Non-empty, no Unicode space, no plus: Go's unicode.IsSpace is str.isspace here.
    return bool(name) and "+" not in name and not any(c.isspace() for c in name)


def _check_name(name: str) -> None:
    if not _valid_name(name) or _has_control(name):
        raise NoteError(f"not a key name: {name!r}")


def _b64decode(text: str, what: str) -> bytes:
    try:
        # Strict: padding required, nothing after it, no characters outside the alphabet.
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise NoteError(f"not base64 ({what}): {text!r}") from None
