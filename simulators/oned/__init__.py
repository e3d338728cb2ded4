"""One-dimensional blood flow in compliant arterial networks (twinemu's low-fidelity solver).

    net = load_network("conf/simulator/networks/boileau_cca.yaml")
    sol = simulate(net)                       # runs to the periodic state
    sol.pressure("common_carotid_artery", 0.5)   # Pa over the last cycle

Modules: ``params`` (frozen SI description), ``network`` (flat arrays), ``kernels``,
``boundary``, ``junctions`` (Numba), ``solver`` (periodic-state loop), ``record``
(Solution, derived quantities), ``io`` (our YAML, openBF YAML), ``targets`` (parameter
names → network quantities), ``simulator`` (the twinemu Simulator), ``lumped`` (its 0D
Windkessel twin), ``plots``, ``cli`` (``twinemu oned run NETWORK.yaml``: the solver's command
line, openBF-style ``.last`` files and ``qoi.json``).
"""

from simulators.oned.io import load_network, save_network
from simulators.oned.params import Network
from simulators.oned.record import Solution
from simulators.oned.solver import simulate, simulate_batch

__all__ = ["load_network", "save_network", "simulate", "simulate_batch", "Solution", "Network",
           "OneDSimulator", "LumpedNetworkSimulator", "lump", "lumped_windkessel"]


def __getattr__(name: str):
    if name == "OneDSimulator":
        from simulators.oned.simulator import OneDSimulator
        return OneDSimulator
    if name in ("LumpedNetworkSimulator", "lump", "lumped_windkessel"):
        from simulators.oned import lumped
        return getattr(lumped, name)
    raise AttributeError(name)
