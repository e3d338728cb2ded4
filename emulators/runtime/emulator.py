"""``RuntimeEmulator``: a loaded emulator file, predicting in physical units."""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

from emulators.errors import EmulatorFileError, OutOfDomainError
from emulators.outputs import OutputTransform
from emulators.runtime.fileformat import read_file
from emulators.runtime.predictor import Predictor, build, predict_chunked
from simulators.design import ParameterSpace

#: What ``predict`` does with a point outside the domain of validity.
DOMAIN_POLICIES = ("raise", "warn", "clip")
VARIANCE_MODES = ("exact", "lowrank", None)


class DomainWarning(UserWarning):
    """A prediction was asked outside the domain of validity and made anyway (``"warn"``)
    or at the nearest point of the domain (``"clip"``)."""


def apply_domain_policy(space: ParameterSpace, X: Any, policy: str, *,
                        quiet: bool = False) -> np.ndarray:
    """``X`` as ``(n, d)`` checked against ``space``: ``"raise"`` an
    :class:`~emulators.errors.OutOfDomainError` for a point outside, ``"warn"`` and
    extrapolate, or ``"clip"`` it to the bounds (with a warning)."""
    if policy not in DOMAIN_POLICIES:
        raise ValueError(f"domain must be one of {DOMAIN_POLICIES}, got {policy!r}")
    try:
        return space.check(X)
    except OutOfDomainError as exc:
        if policy == "raise":
            raise
        X = space.as_array(X)
        if policy == "clip":
            lo = np.array([p.low for p in space.parameters])
            hi = np.array([p.high for p in space.parameters])
            X = np.clip(X, lo, hi)
        if not quiet:
            what = "clipped to the domain" if policy == "clip" else "extrapolated"
            warnings.warn(f"{exc}; predictions there are {what} (domain={policy!r})",
                          DomainWarning, stacklevel=3)
        return X


class RuntimeEmulator:
    """A loaded emulator: ``predict`` maps physical inputs to physical outputs.

    Attributes
    ----------
    card : dict
        Everything the file says about itself.
    space : ParameterSpace
        The domain of validity; inputs outside raise ``OutOfDomainError`` (``domain``
        ``"raise"``, the default), or are extrapolated (``"warn"``) or clipped (``"clip"``)
        with a :class:`DomainWarning`.
    input_names, output_names : list of str
    """

    def __init__(self, card: dict[str, Any], arrays: dict[str, np.ndarray], *,
                 domain: str = "raise"):
        if domain not in DOMAIN_POLICIES:
            raise ValueError(f"domain must be one of {DOMAIN_POLICIES}, got {domain!r}")
        self.domain = domain
        self.card = card
        inputs = card.get("inputs")
        if not isinstance(inputs, list):
            raise EmulatorFileError("the card has no list of 'inputs'")
        self.space = ParameterSpace.from_dict({"parameters": inputs})
        self.outputs = OutputTransform.from_arrays(card.get("outputs"), arrays)
        self._predictor: Predictor = build(card, arrays)
        if self._predictor.n_inputs != len(self.space):
            raise EmulatorFileError(f"the predictor takes {self._predictor.n_inputs} inputs "
                                    f"but the card declares {len(self.space)}")
        if self._predictor.n_latent != self.outputs.n_latent:
            raise EmulatorFileError(f"the predictor has {self._predictor.n_latent} latent "
                                    f"outputs but the output transform expects "
                                    f"{self.outputs.n_latent}")
        self._squeeze = bool(card.get("squeeze_output", False))

    @property
    def input_names(self) -> list[str]:
        return self.space.names

    @property
    def output_names(self) -> list[str]:
        return [b.name for b in self.outputs.blocks]

    @property
    def predictor(self) -> Predictor:
        return self._predictor

    def _unit(self, X: Any, domain: str | None = None, quiet: bool = False) -> np.ndarray:
        return self.space.to_unit(apply_domain_policy(self.space, X, domain or self.domain,
                                                      quiet=quiet))

    def _latent(self, X: Any, variance: str | None = "exact", domain: str | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
        U = self._unit(X, domain)
        p = self._predictor
        if variance == "exact":
            return predict_chunked(p, U, p.bytes_per_point())
        if variance in ("lowrank", None) and not hasattr(p, "lowrank"):
            raise ValueError(f"emulators of kind {self.card.get('kind')!r} have no low-rank "
                             f"variance; use variance='exact'")
        return predict_chunked(lambda u: p(u, variance=variance), U, p.bytes_per_point())

    def predict(self, X: Any, *, variance: str | None = "exact", domain: str | None = None
                ) -> tuple[np.ndarray, np.ndarray | None]:
        """Mean and variance at ``X`` (``(n, d)`` or a ``{name: values}`` mapping).

        Returns arrays ``(n, columns)`` — or ``(n,)`` for an emulator fitted on a single
        1-D output — in the outputs' physical units (variance in unit²).

        ``variance``: ``"exact"``; ``"lowrank"`` (the file's low-rank factor, whose error
        bound is ``card["model"]["lowrank"]``; exact when the file has none); ``None``
        (the variance returned is ``None``).  ``domain``: this call's domain policy.
        """
        if variance not in VARIANCE_MODES:
            raise ValueError(f"variance must be one of {VARIANCE_MODES}, got {variance!r}")
        # mean only: GP predictors skip the variance (zeros stand in for it below)
        mode = variance if variance or hasattr(self._predictor, "lowrank") else "exact"
        mean, var = self.outputs.inverse(*self._latent(X, mode, domain))
        if self._squeeze:
            mean, var = mean[:, 0], var[:, 0]
        return (mean, var) if variance is not None else (mean, None)

    def novelty(self, X: Any) -> dict[str, np.ndarray]:
        """How far each query lies from the training design (``distance (q, m)`` in
        lengthscale units, ``score (q,)`` = distance over the card's threshold, ``flag
        (q,)``, ``variance_ratio (q, m)``); points outside the domain are measured, not
        refused."""
        fn = getattr(self._predictor, "novelty", None)
        if fn is None:
            raise NotImplementedError(f"emulators of kind {self.card.get('kind')!r} do not "
                                      f"report novelty")
        return fn(self._unit(X, "warn", quiet=True))

    def predict_covariance(self, X: Any) -> tuple[np.ndarray, np.ndarray]:
        """Mean ``(q, C)`` and predictive covariance across the physical columns
        ``(q, C, C)`` at each point (outputs reduced together by PCA are correlated)."""
        z_mean, z_var = self._latent(X)
        return self.outputs.inverse(z_mean, z_var)[0], self.outputs.covariance(z_var)

    def predict_dict(self, X: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """``{output name: (mean, variance)}`` with waveforms as ``(n, T)``."""
        mean, var = self.outputs.inverse(*self._latent(X))
        m, v = self.outputs.split(mean), self.outputs.split(var)
        return {name: (m[name], v[name]) for name in m}

    def sample(self, X: Any, n: int, *, seed: int | np.random.Generator | None = None
               ) -> np.ndarray:
        """``n`` joint posterior draws at ``X``: ``(n, len(X), columns)`` (or ``(n, len(X))``
        for a single 1-D output), where the kind supports sampling."""
        sampler = getattr(self._predictor, "sample", None)
        if sampler is None:
            raise NotImplementedError(f"emulators of kind {self.card.get('kind')!r} cannot "
                                      f"draw joint posterior samples")
        U = self.space.to_unit(self.space.check(X))
        Z = sampler(U, int(n), np.random.default_rng(seed))
        zeros = np.zeros_like(Z[0])
        draws = np.stack([self.outputs.inverse(z, zeros)[0] for z in Z])
        return draws[..., 0] if self._squeeze else draws

    def training_mask(self, X: Any, atol: float = 1e-9) -> np.ndarray | None:
        """Which rows of ``X`` are training points of this emulator (within ``atol`` in the
        unit cube); a check on them would measure interpolation, not prediction.  ``None``
        when the emulator keeps no training inputs (a neural ensemble): then nobody can
        tell, and a check must say so."""
        train = self._predictor.train_inputs()
        if train is None:
            return None
        U = self.space.to_unit(self.space.as_array(X))
        d = np.abs(U[:, None, :] - train[None, :, :]).max(axis=2)
        return (d <= atol).any(axis=1)

    def __repr__(self) -> str:
        return (f"<twinemu {self.card.get('kind')} emulator: inputs {self.input_names} -> "
                f"outputs {self.output_names}>")


def load(path: str | os.PathLike, *, public_key: Any = None, domain: str = "raise"
         ) -> RuntimeEmulator:
    """Load and verify an emulator file.

    Parameters
    ----------
    path : path-like
        A ``.safetensors`` file written by ``export``.
    public_key : optional
        An Ed25519 public key (PEM bytes, a path to a PEM file, or a key object): the file
        must then carry a valid signature made by ``twinemu sign`` with the private key.
    domain : {"raise", "warn", "clip"}
        What ``predict`` does outside the domain of validity (see :class:`RuntimeEmulator`).

    Raises
    ------
    EmulatorFileError
        Missing, damaged, tampered, malformed (schema) or unsigned/wrongly signed file.
    """
    if domain not in DOMAIN_POLICIES:
        raise ValueError(f"domain must be one of {DOMAIN_POLICIES}, got {domain!r}")
    card, arrays = read_file(path, public_key=public_key)
    try:
        return RuntimeEmulator(card, arrays, domain=domain)
    except EmulatorFileError as exc:
        raise EmulatorFileError(f"{os.fspath(path)!r}: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise EmulatorFileError(f"{os.fspath(path)!r} has an incomplete or malformed card "
                                f"({type(exc).__name__})") from exc
