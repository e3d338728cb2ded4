"""Waveform plots of a :class:`~simulators.oned.record.Solution` (matplotlib, imported lazily).

Pressures are shown in mmHg and flows in mL/s.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from simulators.oned.record import Solution
from simulators.units import ML, MMHG


def plot_sites(sol: Solution, sites: Sequence[tuple[str, float]] | None = None,
               path: str | Path | None = None,
               reference: Mapping[tuple[str, float], dict[str, np.ndarray]] | None = None,
               title: str = ""):
    """Pressure and flow over the last cycle at ``sites`` (default: all recorded).

    ``reference[(label, x)]`` may hold arrays ``t_P``, ``P`` (Pa), ``t_Q``, ``Q`` (m^3/s) to
    overlay as dots.  Saves to ``path`` when given; returns the figure.
    """
    import matplotlib.pyplot as plt

    sites = list(sites or sol.sites)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for k, (lab, x) in enumerate(sites):
        color = f"C{k % 10}"
        name = f"{lab} x={x:g}"
        axes[0].plot(sol.t, sol.pressure(lab, x) / MMHG, color=color, label=name)
        axes[1].plot(sol.t, sol.flow(lab, x) / ML, color=color, label=name)
        ref = (reference or {}).get((lab, x), {})
        if "P" in ref:
            axes[0].plot(ref["t_P"], np.asarray(ref["P"]) / MMHG, ".", color=color, ms=3,
                         label=f"{name} (3D ref.)")
        if "Q" in ref:
            axes[1].plot(ref["t_Q"], np.asarray(ref["Q"]) / ML, ".", color=color, ms=3,
                         label=f"{name} (3D ref.)")
    axes[0].set(xlabel="t (s)", ylabel="P (mmHg)")
    axes[1].set(xlabel="t (s)", ylabel="Q (mL/s)")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=110)
        plt.close(fig)
    return fig
