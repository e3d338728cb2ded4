"""Ed25519 signatures of emulator files (optional extra: ``pip install twinemu[sign]``).

The SHA-256 digest stored in a file proves the file is intact, not who made it: anyone can
edit the arrays or the card and recompute it.  A signature over the digest, made with a
private key that only the publisher holds and checked with their public key, proves both.
Uses the ``cryptography`` package (imported only here, only when signing or verifying).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from emulators.errors import EmulatorFileError, SignatureError


def _crypto():
    try:
        from cryptography.exceptions import InvalidSignature
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import ed25519
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise SignatureError("signing needs the 'cryptography' package: "
                             "pip install 'twinemu[sign]'") from exc
    return ed25519, serialization, InvalidSignature


def _pem(key: Any) -> bytes | None:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str | os.PathLike):
        try:
            return Path(key).read_bytes()
        except OSError as exc:
            raise SignatureError(f"cannot read the key file {os.fspath(key)!r}: "
                                 f"{exc.strerror}") from None
    return None


def _load_key(key: Any, which: str):
    """An Ed25519 key object from a key object, PEM bytes or a PEM file path.

    ``which``: ``"public"`` or ``"private"`` (private keys must be unencrypted).
    """
    ed25519, serialization, _ = _crypto()
    cls = ed25519.Ed25519PublicKey if which == "public" else ed25519.Ed25519PrivateKey
    if isinstance(key, cls):
        return key
    pem = _pem(key)
    try:
        if which == "public":
            obj = serialization.load_pem_public_key(pem)
        else:
            obj = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        hint = ("" if which == "public"
                else " (unencrypted; make one with 'twinemu keygen')")
        raise SignatureError(f"the {which} key is not an Ed25519 key in PEM format{hint}"
                             ) from None
    if not isinstance(obj, cls):
        raise SignatureError(f"the {which} key is not an Ed25519 key")
    return obj


def load_public_key(key: Any):
    return _load_key(key, "public")


def load_private_key(key: Any):
    return _load_key(key, "private")


def generate_keypair(folder: str | os.PathLike, name: str = "twinemu") -> tuple[Path, Path]:
    """Write ``<name>.key`` (private, mode 0600) and ``<name>.pub`` in ``folder``."""
    ed25519, serialization, _ = _crypto()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    priv = ed25519.Ed25519PrivateKey.generate()
    key_path, pub_path = folder / f"{name}.key", folder / f"{name}.pub"
    if key_path.exists() or pub_path.exists():
        raise SignatureError(f"{key_path} or {pub_path} exists already; not overwriting keys")
    fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(priv.private_bytes(serialization.Encoding.PEM,
                                   serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))
    pub_path.write_bytes(priv.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_path, pub_path


def sign_file(path: str | os.PathLike, private_key: Any) -> str:
    """Verify ``path`` (digest and schema) and rewrite it with a signature of its digest."""
    from emulators.runtime.emulator import RuntimeEmulator
    from emulators.runtime.fileformat import (
        CARD_KEY,
        DIGEST_KEY,
        SIGNATURE_KEY,
        read_file,
        read_raw,
    )

    key = load_private_key(private_key)
    card, arrays = read_file(path)
    RuntimeEmulator(card, arrays)  # schema-checked before we vouch for it
    meta, arrays = read_raw(path)
    signature = base64.b64encode(key.sign(bytes.fromhex(meta[DIGEST_KEY]))).decode()
    from safetensors.numpy import save_file

    tmp = f"{os.fspath(path)}.tmp"
    save_file(arrays, tmp, metadata={CARD_KEY: meta[CARD_KEY], DIGEST_KEY: meta[DIGEST_KEY],
                                     SIGNATURE_KEY: signature})
    os.replace(tmp, path)
    return signature


def verify_digest(sha: str, signature: str | None, public_key: Any, path: str) -> None:
    """Raise :class:`SignatureError` unless ``signature`` signs ``sha`` with ``public_key``."""
    _, _, InvalidSignature = _crypto()
    key = load_public_key(public_key)
    if not signature:
        raise SignatureError(f"{path!r} is not signed; a public key was given, so only a file "
                             f"signed with 'twinemu sign' is accepted")
    try:
        key.verify(base64.b64decode(signature, validate=True), bytes.fromhex(sha))
    except (InvalidSignature, ValueError):
        raise SignatureError(f"{path!r}: the signature does not match this file and key (the "
                             f"file was changed after signing, or signed by another key)"
                             ) from None


__all__ = ["generate_keypair", "sign_file", "verify_digest", "load_public_key",
           "load_private_key", "EmulatorFileError"]
