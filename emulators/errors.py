"""Named exceptions raised by :mod:`emulators` (numpy-only: the runtime imports this)."""

from __future__ import annotations

# One class for "outside the domain" across twinemu (simulators.errors is stdlib-only).
from simulators.errors import OutOfDomainError  # noqa: E402,F401


class EmulatorFileError(OSError):
    """An emulator file is missing, damaged, tampered with or not an emulator file."""


class EmulatorVersionError(EmulatorFileError):
    """An emulator file has a format major version this runtime cannot read."""


class OldVersionWarning(UserWarning):
    """An emulator file of an older minor version was migrated on load."""


class NotFittedError(ValueError):
    """An emulator was asked to predict or export before ``fit``."""


class ConfigError(ValueError):
    """An experiment configuration is invalid (unknown key, bad ``_target_``...)."""


class CheckFailed(AssertionError):
    """``twinemu check`` found an emulator below its accuracy bar."""


class SignatureError(EmulatorFileError):
    """An emulator file's signature is missing, invalid or made with another key."""
