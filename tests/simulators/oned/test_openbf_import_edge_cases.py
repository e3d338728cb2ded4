"""openBF importer: inflow tables whose times step back, a dropped outlet compliance said
aloud, and the ζ default quoted in the 'gamma profile' message (openBF's vessel.jl: 2)."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.errors import ConfigurationError
from simulators.oned import load_network
from simulators.oned.io import OpenBFInputWarning, from_openbf


def _obf(tmp_path, table: str, **vessel):
    (tmp_path / "in.dat").write_text(table)
    v = {"label": "v", "sn": 1, "tn": 2, "L": 0.1, "E": 4e5, "R0": 5e-3, "h0": 5e-4,
         "gamma_profile": 2, "R1": 1e7, "R2": 1e8, "Cc": 1e-8, **vessel}
    v = {k: x for k, x in v.items() if x is not None}
    return {"project_name": "t", "inlet_file": "in.dat",
            "blood": {"rho": 1060.0, "mu": 4e-3}, "network": [v]}


# a digitised-looking table: row 4 steps back 5 ms, row 6 repeats row 5 exactly
SWAPPED = ("0.0 1e-6\n0.1 2e-6\n0.2 4e-6\n0.195 3e-6\n0.5 2e-6\n0.5 2e-6\n"
           "1.0 1e-6\n")


def test_inflow_rows_out_of_time_order_are_named_when_strict(tmp_path):
    with pytest.raises(ConfigurationError, match=r"2 row\(s\): row 4 \(t=0.195 s after "
                                                 r"0.2 s\), row 6 .*strict=False to sort"):
        from_openbf(_obf(tmp_path, SWAPPED), tmp_path)


def test_inflow_rows_are_sorted_by_time_with_a_warning(tmp_path):
    with pytest.warns(OpenBFInputWarning, match=r"row 4 .*rows sorted by time \(largest step "
                                                r"back 5 ms; 1 repeated row\(s\) dropped\)"):
        net = from_openbf(_obf(tmp_path, SWAPPED), tmp_path, strict=False)
    inlet = net.inlet
    assert net.inlet.period == 1.0
    np.testing.assert_allclose(inlet.phase, [0.0, 0.1, 0.195, 0.2, 0.5])
    np.testing.assert_allclose(inlet.flow, [1e-6, 2e-6, 3e-6, 4e-6, 2e-6])
    # the sorted table is one curve: Q(0.1975) halfway between the two swapped samples
    assert inlet.q(0.1975) == pytest.approx(3.5e-6)


def test_inflow_rows_with_one_time_and_two_flows_are_refused(tmp_path):
    table = "0.0 1e-6\n0.5 2e-6\n0.5 3e-6\n1.0 1e-6\n"
    with pytest.raises(ConfigurationError, match="two rows at t=0.5 s give different flows"):
        from_openbf(_obf(tmp_path, table), tmp_path, strict=False)


def test_circle_of_willis_inflow_loads_sorted(shared_data):
    """The real table: rows 15, 86, 91, 96 step back (largest 1.38 ms)."""
    path = shared_data / "oned/alastruey2007/circle_of_willis.yaml"
    with pytest.warns(OpenBFInputWarning) as caught:
        net = load_network(path, strict=False)
    sorted_msg = [str(w.message) for w in caught if "sorted by time" in str(w.message)]
    assert len(sorted_msg) == 1
    for row in ("row 15 ", "row 86 ", "row 91 ", "row 96 "):
        assert row in sorted_msg[0]
    assert "largest step back 1.38 ms" in sorted_msg[0]
    assert np.all(np.diff(net.inlet.phase) > 0)
    assert len(net.vessels) == 33


def test_dropped_outlet_compliance_is_said(tmp_path):
    data = _obf(tmp_path, "0.0 1e-6\n0.5 2e-6\n1.0 1e-6\n", R2=None, Cc=2.5e-9)
    with pytest.warns(OpenBFInputWarning, match=r"outlet of vessel 'v' with R1 but no R2 read "
                                                r"as a pure resistance R=1e\+07 Pa s m\^-3; "
                                                r"its Cc=2.5e-09 m\^3/Pa is dropped"):
        net = from_openbf(data, tmp_path, strict=False)
    assert (net.outlets[0].kind, net.outlets[0].R1, net.outlets[0].C) == ("resistance", 1e7, 0)
    # without a Cc there is nothing dropped, and the warning does not claim so
    data = _obf(tmp_path, "0.0 1e-6\n0.5 2e-6\n1.0 1e-6\n", R2=None, Cc=None)
    with pytest.warns(OpenBFInputWarning) as caught:
        from_openbf(data, tmp_path, strict=False)
    assert all("dropped" not in str(w.message) for w in caught)


def test_gamma_profile_message_quotes_openbf_default_2(tmp_path):
    data = _obf(tmp_path, "0.0 1e-6\n0.5 2e-6\n1.0 1e-6\n", gamma_profile=None)
    data["network"][0]["gamma profile"] = 9
    with pytest.raises(ConfigurationError, match=r"silently uses its default ζ = 2 "):
        from_openbf(data, tmp_path)
    with pytest.warns(OpenBFInputWarning, match="reading 'gamma profile'"):
        assert from_openbf(data, tmp_path, strict=False).vessels[0].zeta == 9.0
