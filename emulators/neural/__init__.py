"""Neural emulators: deep ensembles with calibrated uncertainty (torch for training; the
exported file is evaluated by :mod:`emulators.runtime.ensemble` with numpy alone)."""

from emulators.neural.emulator import NeuralEnsemble

__all__ = ["NeuralEnsemble"]
