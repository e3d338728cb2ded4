"""An in-memory :class:`RunSource` (arrays already computed): for tests, synthetic runs and
results produced by Python code.  Not used by format detection."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from datasets.adapters.base import FieldInfo, Mesh, RunSource, as_2d

NAME = "memory"


class MemorySource(RunSource):
    """A run held in memory.

    Parameters
    ----------
    mesh : Mesh
    fields : {name: (association, values)}
        ``values`` is ``(n_steps, n_entities[, n_components])`` or a callable
        ``step -> (n_entities, n_components)``.
    times : (n_steps,) seconds
    """

    format = NAME

    def __init__(self, mesh: Mesh, fields: Mapping[str, tuple[str, object]],
                 times: np.ndarray, *, name: str = "<memory>") -> None:
        super().__init__(name)
        self._mesh = mesh
        self._times = np.asarray(times, float).ravel()
        self._data = dict(fields)
        self._catalogue = {}
        for fname, (assoc, values) in self._data.items():
            sample = values(0) if callable(values) else np.asarray(values)[0]
            self._catalogue[fname] = FieldInfo(fname, assoc, as_2d(sample).shape[1])  # type: ignore[arg-type]

    def mesh(self, step: int = 0) -> Mesh:
        return self._mesh

    def read(self, field: str, step: int) -> np.ndarray:
        self._field(field)
        step = self._step(step)
        values = self._data[field][1]
        return as_2d(values(step) if callable(values) else np.asarray(values)[step])
