"""The emulator file: one ``.safetensors`` file of float64 arrays plus a JSON card.

Writing is atomic (a temporary file renamed over the target).  Reading

1. opens regular files only, of a bounded size;
2. parses the safetensors header (never pickle) and the card;
3. checks the SHA-256 digest over every array and the card — this proves the file is
   *intact*, not who wrote it: anyone can edit a file and recompute the digest;
4. checks the format and version (an unknown major version is refused; an older minor
   version is migrated with an :class:`~emulators.errors.OldVersionWarning`);
5. checks every array is float64 and finite (the predictor kinds then check shapes and
   signs against the card, see :mod:`emulators.runtime.predictor`);
6. with ``public_key``, verifies an Ed25519 signature over the digest — the one check
   that proves *who* made the file (see :mod:`emulators.runtime.signing`).

numpy, the standard library and the safetensors reader only.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np

from emulators.errors import EmulatorFileError, EmulatorVersionError, OldVersionWarning

FORMAT = "twinemu-emulator"
#: 1.1: several predictor blocks per file (array keys carry a prefix), fidelity levels
#: with a hash each, explicit training inputs (possibly none).  1.2: a multi-fidelity
#: level may hold weighted draws of its covariance parameters (``mf.<t>.draws.*``), which
#: a 1.1 runtime would ignore.  Older minor versions load; newer ones are refused.
FORMAT_VERSION = "1.2"
CARD_KEY = "twinemu.card"
DIGEST_KEY = "twinemu.sha256"
SIGNATURE_KEY = "twinemu.signature"
#: Files larger than this are refused before reading (a twin's emulator is MBs, not GBs).
MAX_FILE_BYTES = 2 << 30


def digest(arrays: Mapping[str, np.ndarray], card_json: str) -> str:
    """SHA-256 over every array (name, dtype, shape, bytes, in name order) and the card."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(a.tobytes())
    h.update(card_json.encode())
    return h.hexdigest()


def json_default(o: Any) -> Any:
    """``json.dumps`` fallback: numpy scalars and arrays as Python values, the rest as str."""
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    return str(o)


def write_file(path: str | os.PathLike, arrays: Mapping[str, np.ndarray],
               card: Mapping[str, Any], *, signature: str | None = None) -> str:
    """Write an emulator file atomically; return its digest.  Arrays are stored as float64."""
    from safetensors.numpy import save_file

    arrays = {k: np.ascontiguousarray(np.asarray(v, dtype=np.float64)) for k, v in arrays.items()}
    card = {"format": FORMAT, "format_version": FORMAT_VERSION, **dict(card)}
    card_json = json.dumps(card, sort_keys=True, default=json_default)
    sha = digest(arrays, card_json)
    meta = {CARD_KEY: card_json, DIGEST_KEY: sha}
    if signature is not None:
        meta[SIGNATURE_KEY] = signature
    tmp = f"{os.fspath(path)}.tmp"
    try:
        save_file(arrays, tmp, metadata=meta)
        os.replace(tmp, path)  # never leave a half-written emulator under the real name
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise EmulatorFileError(f"cannot write the emulator file {os.fspath(path)!r}: "
                                f"{exc.strerror or exc}") from exc
    return sha


def read_raw(path: str | os.PathLike) -> tuple[dict[str, str], dict[str, np.ndarray]]:
    """Metadata and arrays of a safetensors file, with the file-level checks (1–2)."""
    from safetensors import SafetensorError, safe_open

    path = os.fspath(path)
    try:
        st = os.stat(path)
    except OSError:
        raise EmulatorFileError(f"no emulator file at {path!r}") from None
    if not stat.S_ISREG(st.st_mode):
        raise EmulatorFileError(f"{path!r} is not a regular file (a FIFO, device or folder)")
    if st.st_size > MAX_FILE_BYTES:
        raise EmulatorFileError(f"{path!r} is {st.st_size / 2**30:.1f} GiB, larger than an "
                                f"emulator file can be ({MAX_FILE_BYTES / 2**30:.0f} GiB)")
    try:
        with safe_open(path, framework="np") as f:
            meta = dict(f.metadata() or {})
            arrays = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118
    except (SafetensorError, OSError, ValueError, TypeError) as exc:
        raise EmulatorFileError(
            f"{path!r} is not a readable emulator file (a .safetensors file written by "
            f"twinemu export); the safetensors reader said: {type(exc).__name__}"
        ) from exc
    return meta, arrays


def read_file(path: str | os.PathLike, *, public_key: Any = None
              ) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Read and verify an emulator file; return ``(card, arrays)``.

    Parameters
    ----------
    public_key : Ed25519 public key, PEM bytes or path, optional
        When given, the file must carry a valid signature by the matching private key
        (``twinemu sign``); otherwise :class:`~emulators.errors.SignatureError`.
    """
    path = os.fspath(path)
    meta, arrays = read_raw(path)
    if CARD_KEY not in meta:
        raise EmulatorFileError(f"{path!r} is a safetensors file without a twinemu card")
    card_json = meta[CARD_KEY]
    sha = digest(arrays, card_json)
    if sha != meta.get(DIGEST_KEY):
        raise EmulatorFileError(
            f"{path!r} failed its integrity check (SHA-256 of arrays and card differs from "
            f"the one stored): the file was modified or damaged. Export it again."
        )
    if public_key is not None:
        from emulators.runtime.signing import verify_digest

        verify_digest(sha, meta.get(SIGNATURE_KEY), public_key, path)
    try:
        card = json.loads(card_json)
    except json.JSONDecodeError:
        raise EmulatorFileError(f"{path!r}: its card is not valid JSON") from None
    if not isinstance(card, dict):
        raise EmulatorFileError(f"{path!r}: its card is not a JSON object")
    if card.get("format") != FORMAT:
        raise EmulatorFileError(f"{path!r} is not a twinemu emulator file (its card's "
                                f"'format' is not {FORMAT!r})")
    card = _check_version(card, path)
    for name, a in arrays.items():
        if a.dtype != np.float64:
            raise EmulatorFileError(f"{path!r}: array {name!r} is {a.dtype}, not float64; "
                                    f"twinemu writes float64 only (re-export the emulator)")
        if not np.all(np.isfinite(a)):
            raise EmulatorFileError(f"{path!r}: array {name!r} holds NaN or infinite values")
    return card, arrays


def parse_version(text: Any) -> tuple[int, int] | None:
    """``"1.1"`` → ``(1, 1)``; anything else → ``None``."""
    parts = str(text).split(".")
    if len(parts) != 2 or not all(p.isdigit() and len(p) <= 4 for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def _check_version(card: dict[str, Any], path: str) -> dict[str, Any]:
    found = parse_version(card.get("format_version"))
    current = parse_version(FORMAT_VERSION)
    if found is None:
        raise EmulatorFileError(f"{path!r}: its card's format_version is not of the form "
                                f"MAJOR.MINOR; this runtime reads {FORMAT_VERSION}")
    if found[0] != current[0]:
        raise EmulatorVersionError(
            f"{path!r} uses emulator format {found[0]}.{found[1]}; this runtime reads "
            f"{current[0]}.x. Install a twinemu release that reads it, or re-export."
        )
    if found[1] > current[1]:  # it may hold parts this runtime would silently ignore
        raise EmulatorVersionError(
            f"{path!r} uses emulator format {found[0]}.{found[1]}, newer than this runtime's "
            f"{FORMAT_VERSION}: it may hold parts this runtime does not know and would "
            f"ignore. Upgrade twinemu on the twin side.")
    if found[1] < current[1]:
        warnings.warn(f"{path!r}: emulator format {found[0]}.{found[1]} migrated to "
                      f"{FORMAT_VERSION} on load", OldVersionWarning, stacklevel=4)
        card = migrate(card)
    return card


def migrate(card: dict[str, Any]) -> dict[str, Any]:
    """Bring an older 1.x card to the current minor version (no array changes needed)."""
    card = dict(card)
    card.setdefault("levels", [])  # 1.0: single level, not recorded
    return card
