"""C2SP checkpoints in signed notes (Ed25519): published vectors, round trips, forgeries."""

from __future__ import annotations

import base64
import hashlib

import pytest

from projections.audit.notes import (
    Checkpoint,
    NoteError,
    Verifier,
    format_checkpoint,
    generate_key,
    key_id,
    open_note,
    parse_checkpoint,
    parse_signer_key,
    parse_verifier_key,
    private_key_from_pem,
    private_key_to_pem,
    public_key_bytes,
    public_key_from_bytes,
    sign_note,
    signer_key,
    verifier_key,
)

# --- Vectors of golang.org/x/mod/sumdb/note (note.go documentation, note_test.go) -----
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = (
    "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXg"
    "KvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
ENOCH_SIG = (
    "\u2014 EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOT"
    "GwnWLox33WWd1RvMc+QQ=\n"
)

# --- Vectors of C2SP (signed-note.md, tlog-checkpoint.md) -----------------------------
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n"
    "\n"
    "\u2014 example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERYNZX"
    "sYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)
C2SP_CHECKPOINT = (
    "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)


def test_go_signer_key_signs_the_published_note() -> None:
    name, private_key = parse_signer_key(PETER_SKEY)
    assert name == "PeterNeumann"
    assert sign_note(TEXT, name, private_key) == TEXT + "\n" + PETER_SIG
    assert signer_key(name, private_key) == PETER_SKEY
    assert verifier_key(name, private_key.public_key()) == PETER_VKEY


def test_go_verifier_keys_open_the_published_notes() -> None:
    peter = parse_verifier_key(PETER_VKEY)
    enoch = parse_verifier_key(ENOCH_VKEY)
    assert (peter.name, peter.key_id) == ("PeterNeumann", 0xC74F20A3)
    assert (enoch.name, enoch.key_id) == ("EnochRoot", 0xAF0CFE78)
    both = TEXT + "\n" + PETER_SIG + ENOCH_SIG
    assert open_note(both, peter) == TEXT
    assert open_note(both, enoch) == TEXT
    assert open_note(TEXT + "\n" + PETER_SIG, peter) == TEXT
    with pytest.raises(NoteError, match=r"no signature by EnochRoot\+af0cfe78"):
        open_note(TEXT + "\n" + PETER_SIG, enoch)


def test_c2sp_example_note_and_checkpoint() -> None:
    verifier = parse_verifier_key(C2SP_VKEY)
    assert open_note(C2SP_NOTE, verifier) == "This is an example message.\n"
    assert verifier_key(verifier.name, verifier.public_key) == C2SP_VKEY
    checkpoint = parse_checkpoint(C2SP_CHECKPOINT)
    assert checkpoint == Checkpoint(
        "example.com/behind-the-sofa",
        20852163,
        base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="),
    )
    assert format_checkpoint(checkpoint.origin, checkpoint.size, checkpoint.root_hash) == (
        C2SP_CHECKPOINT
    )


def test_an_invalid_signature_by_the_known_key_rejects_the_note() -> None:
    # note_test.go: four base64 characters inserted into Peter's signature.
    forged = PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteError, match=r"invalid signature for key PeterNeumann\+c74f20a3"):
        open_note(TEXT + "\n" + forged, parse_verifier_key(PETER_VKEY))


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        "\ud800" + TEXT + "\n" + PETER_SIG,
        TEXT + "\n" + "\u2014 Bad Name " + PETER_SIG.split(" ")[2],
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
        TEXT + "\n" + PETER_SIG * 101,
    ],
)
def test_malformed_notes_are_refused(note: str) -> None:
    # The bad messages of note_test.go (a stray 0xff byte becomes a lone surrogate here).
    with pytest.raises(NoteError, match=r"malformed|UTF-8|control"):
        open_note(note, parse_verifier_key(PETER_VKEY))


def test_mangled_verifier_keys_are_refused() -> None:
    # As note_test.go does: every proper substring and every one-byte change fails.
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(NoteError):
                    parse_verifier_key(PETER_VKEY[i:j])
    for i, char in enumerate(PETER_VKEY):
        with pytest.raises(NoteError):
            parse_verifier_key(PETER_VKEY[:i] + chr(ord(char) + 1) + PETER_VKEY[i + 1 :])
    # A key of the wrong length, and an unknown algorithm, each with a matching key id.
    for bad in (
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ):
        with pytest.raises(NoteError, match="not an Ed25519"):
            parse_verifier_key(bad)


def test_mangled_signer_keys_are_refused() -> None:
    for i, char in enumerate(PETER_SKEY):
        with pytest.raises(NoteError):
            parse_signer_key(PETER_SKEY[:i] + chr(ord(char) + 1) + PETER_SKEY[i + 1 :])
    with pytest.raises(NoteError):
        parse_signer_key(PETER_SKEY[:-4])


# --- Our own keys -------------------------------------------------------------------

ORIGIN = "accounting.example/audit/acc-1"
ROOT = hashlib.sha256(b"root").digest()


def test_checkpoint_round_trip_through_a_signed_note() -> None:
    key = generate_key()
    body = format_checkpoint(ORIGIN, 42, ROOT)
    assert body == f"{ORIGIN}\n42\n{base64.b64encode(ROOT).decode()}\n"
    note = sign_note(body, ORIGIN, key)
    verifier = parse_verifier_key(verifier_key(ORIGIN, key.public_key()))
    assert parse_checkpoint(open_note(note, verifier)) == Checkpoint(ORIGIN, 42, ROOT)


def test_key_id_is_the_c2sp_hash() -> None:
    key = generate_key().public_key()
    digest = hashlib.sha256(ORIGIN.encode() + b"\n\x01" + public_key_bytes(key)).digest()
    assert key_id(ORIGIN, key) == int.from_bytes(digest[:4], "big")
    assert Verifier(ORIGIN, key).label() == f"{ORIGIN}+{digest[:4].hex()}"


def test_keys_serialise_and_come_back() -> None:
    key = generate_key()
    again = private_key_from_pem(private_key_to_pem(key))
    assert public_key_bytes(again.public_key()) == public_key_bytes(key.public_key())
    raw = public_key_bytes(key.public_key())
    assert public_key_bytes(public_key_from_bytes(raw)) == raw
    name, parsed = parse_signer_key(signer_key(ORIGIN, key))
    assert name == ORIGIN
    assert public_key_bytes(parsed.public_key()) == raw
    with pytest.raises(NoteError, match="32 bytes"):
        public_key_from_bytes(raw[:31])


def test_a_signature_by_another_key_under_our_name_is_not_ours() -> None:
    ours, theirs = generate_key(), generate_key()
    note = sign_note(format_checkpoint(ORIGIN, 1, ROOT), ORIGIN, theirs)
    with pytest.raises(NoteError, match="no signature by"):
        open_note(note, Verifier(ORIGIN, ours.public_key()))


def test_a_forged_signature_with_our_key_id_rejects_the_note() -> None:
    key = generate_key()
    note = sign_note(format_checkpoint(ORIGIN, 1, ROOT), ORIGIN, key)
    text, line = note.rsplit("\n\n", 1)
    blob = bytearray(base64.b64decode(line.split(" ")[2]))
    blob[10] ^= 1
    forged = f"{text}\n\n\u2014 {ORIGIN} {base64.b64encode(bytes(blob)).decode()}\n"
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(forged, Verifier(ORIGIN, key.public_key()))


def test_a_wrong_key_name_is_not_our_signature() -> None:
    key = generate_key()
    note = sign_note(format_checkpoint(ORIGIN, 1, ROOT), "someone.else/log", key)
    with pytest.raises(NoteError, match="no signature by"):
        open_note(note, Verifier(ORIGIN, key.public_key()))


def test_a_modified_body_fails_its_signature() -> None:
    key = generate_key()
    note = sign_note(format_checkpoint(ORIGIN, 41, ROOT), ORIGIN, key)
    with pytest.raises(NoteError, match="invalid signature"):
        open_note(note.replace("\n41\n", "\n42\n"), Verifier(ORIGIN, key.public_key()))


def test_other_signatures_are_ignored() -> None:
    log, witness = generate_key(), generate_key()
    body = format_checkpoint(ORIGIN, 7, ROOT)
    witness_line = sign_note(body, "witness.example", witness).split("\n\n")[1]
    cosigned = sign_note(body, ORIGIN, log) + witness_line
    assert open_note(cosigned, Verifier(ORIGIN, log.public_key())) == body
    assert open_note(cosigned, Verifier("witness.example", witness.public_key())) == body


@pytest.mark.parametrize(
    "text",
    [
        "origin\n1\n" + base64.b64encode(ROOT).decode(),  # no final newline
        "origin\n1\n",  # no root
        "\n1\n" + base64.b64encode(ROOT).decode() + "\n",  # empty origin
        "origin\n01\n" + base64.b64encode(ROOT).decode() + "\n",  # leading zero
        "origin\n-1\n" + base64.b64encode(ROOT).decode() + "\n",
        "origin\n\u0661\n" + base64.b64encode(ROOT).decode() + "\n",  # not ASCII digits
        "origin\n1\n" + base64.b64encode(ROOT[:31]).decode() + "\n",  # short root
        "origin\n1\n" + base64.b64encode(ROOT).decode().rstrip("=") + "\n",  # no padding
        "origin\n1\n" + base64.b64encode(ROOT).decode() + "\n\n",  # empty extension line
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(NoteError):
        parse_checkpoint(text)


def test_checkpoint_extension_lines_are_kept() -> None:
    body = format_checkpoint(ORIGIN, 0, ROOT, ["ext one", "ext two"])
    assert parse_checkpoint(body).extensions == ("ext one", "ext two")


@pytest.mark.parametrize("name", ["", "with space", "with+plus", "tab\there", "nbsp\u00a0"])
def test_key_names_have_no_spaces_or_plus(name: str) -> None:
    with pytest.raises(NoteError, match="not a key name"):
        sign_note("text\n", name, generate_key())


def test_note_text_ends_with_a_newline_and_has_no_control_characters() -> None:
    with pytest.raises(NoteError, match="newline"):
        sign_note("text", ORIGIN, generate_key())
    with pytest.raises(NoteError, match="control"):
        sign_note("te\rxt\n", ORIGIN, generate_key())
