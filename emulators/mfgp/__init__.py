"""Multi-fidelity Gaussian-process emulators (Kennedy-O'Hagan autoregressive, NARGP)."""

from emulators.mfgp.emulator import MultiFidelityGP
from emulators.mfgp.fit import fit_level

__all__ = ["MultiFidelityGP", "fit_level"]
