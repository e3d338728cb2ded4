"""The contract every emulator honours (STYLE §12): one suite, run on each emulator.

Add a factory to ``FACTORIES`` when a new emulator kind lands (multi-fidelity GP, neural
ensemble...) and it gets the same checks.
"""

from __future__ import annotations

import numpy as np

from simulators.design import Parameter, ParameterSpace

SPACE = ParameterSpace([Parameter("a", 0.0, 1.0, unit="m"),
                        Parameter("b", 1.0, 10.0, unit="Pa", dist="loguniform")])


def smooth_function(X: np.ndarray) -> np.ndarray:
    """A smooth two-input test function with a log-scale input."""
    return np.sin(3.0 * X[:, 0]) + 0.5 * np.log(X[:, 1]) + 0.3 * X[:, 0] * np.log(X[:, 1])


def waveform(X: np.ndarray, T: int = 40) -> np.ndarray:
    phase = np.arange(T) / T
    return (1 + X[:, :1]) * np.sin(2 * np.pi * phase)[None] + np.log(X[:, 1:2]) * phase[None]


def training_data(n: int = 40, seed: int = 1):
    X = SPACE.sample(n, method="lhs", seed=seed)
    return X, {"y": smooth_function(X), "w": waveform(X)}


def fitted_and_validated(truth, units: dict, n_train: int, n_test: int):
    """A small waveform GP on ``SPACE`` (LHS training runs, random held-out runs) and its
    held-out validation: the fixture of the report and ``twinemu check`` tests.

    Returns ``(gp, result, X_train, X_test)``.
    """
    from emulators import GaussianProcess
    from emulators.validation import validate

    X = SPACE.sample(n_train, method="lhs", seed=1)
    Xt = SPACE.sample(n_test, method="random", seed=2)
    gp = GaussianProcess(restarts=1, pca=4).fit(X, truth(X), space=SPACE, units=units)
    return gp, validate(gp, Xt, truth(Xt)), X, Xt


#: What the twin-side runtime must never import.
TWIN_BLOCKED = ("torch", "gpytorch", "scipy", "linear_operator", "h5py", "joblib")


def run_twin_side(body: str):
    """Run ``body`` (Python source, dedented) in a fresh interpreter where torch, gpytorch,
    scipy, h5py and joblib cannot be imported, from the checkout's root; returns the
    ``subprocess.CompletedProcess`` (text mode).  ``BLOCKED`` names them inside ``body``."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    code = (f"import sys\nBLOCKED = {TWIN_BLOCKED!r}\n"
            "class _Block:\n"
            "    def find_spec(self, name, path=None, target=None):\n"
            "        if name.split('.')[0] in BLOCKED:\n"
            "            raise ImportError(f'blocked import of {name}')\n"
            "sys.meta_path.insert(0, _Block())\n" + textwrap.dedent(body))
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=120)
