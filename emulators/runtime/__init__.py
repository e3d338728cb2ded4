"""The twin-side runtime: load an emulator file and predict, with numpy alone.

This package and everything it imports use numpy, the standard library and the
safetensors file reader only — never torch, gpytorch, scipy or pickle — so that a twin
runtime can ``pip install twinemu`` without the training extras.

- :mod:`~emulators.runtime.fileformat`: the file (write, read, verify digest and version,
  float64 and finite arrays); :mod:`~emulators.runtime.signing`: optional Ed25519
  signatures (``cryptography``, imported only when used).
- :mod:`~emulators.runtime.predictor`: the ``Predictor`` protocol and its registry; one
  module per kind (:mod:`~emulators.runtime.gp`, ``mfgp``, ``ensemble``), each checking
  its arrays against the card.
- :mod:`~emulators.runtime.emulator`: :class:`RuntimeEmulator` and :func:`load`.

Examples
--------
>>> from emulators import runtime
>>> emu = runtime.load("outputs/.../emulator.safetensors")
>>> mean, var = emu.predict([[1.0e8, 1.4e-8, 6e6, 75.0, 70.0]])
"""

from __future__ import annotations

from emulators.runtime.emulator import RuntimeEmulator, load
from emulators.runtime.fileformat import (
    FORMAT,
    FORMAT_VERSION,
    digest,
    json_default,
    read_file,
    write_file,
)
from emulators.runtime.gp import GPPredictor, kernel_matrix
from emulators.runtime.predictor import PREDICTORS, Predictor, register

__all__ = ["load", "RuntimeEmulator", "read_file", "write_file", "digest", "json_default",
           "FORMAT", "FORMAT_VERSION", "Predictor", "PREDICTORS", "register", "GPPredictor",
           "kernel_matrix"]
