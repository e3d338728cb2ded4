"""Reading networks: our YAML, openBF's YAML, and the errors for bad input."""

from __future__ import annotations

import math
import shutil
import warnings

import numpy as np
import pytest
import yaml

from simulators.errors import ConfigurationError
from simulators.oned import load_network, save_network
from simulators.oned.io import OpenBFInputWarning, from_dict, to_dict
from simulators.oned.network import layout

from .conftest import NETWORKS

SHIPPED = ["single_pulse", "boileau_cca", "boileau_uta", "boileau_ibif",
           "matthys2007_37artery", "adan56"]


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_networks_load_and_round_trip(name, tmp_path):
    path = NETWORKS / f"{name}.yaml"
    assert path.stat().st_size < 200_000
    net = load_network(path)
    lay = layout(net)
    assert lay.nvessel == len(net.vessels) and lay.ncell >= 3 * lay.nvessel
    save_network(net, tmp_path / "copy.yaml")
    again = load_network(tmp_path / "copy.yaml")
    assert again.vessels == net.vessels and again.outlets == net.outlets
    np.testing.assert_allclose(again.inlet.flow, net.inlet.flow, rtol=1e-8)


def test_shipped_counts():
    assert len(load_network(NETWORKS / "adan56.yaml").vessels) == 77
    assert len(load_network(NETWORKS / "adan56.yaml").outlets) == 31
    assert len(load_network(NETWORKS / "matthys2007_37artery.yaml").vessels) == 37
    assert len(layout(load_network(NETWORKS / "boileau_ibif.yaml")).joff) == 2  # 1 junction


def test_openbf_cca_matches_published_values(shared_data):
    net = load_network(shared_data / "oned/boileau2015/cca/cca.yaml")
    v, o = net.vessels[0], net.outlets[0]
    assert (v.L, v.E, v.zeta, o.kind, o.R1) == (0.126, 700e3, 2.0, "rcr", 2.4875e8)
    assert math.isclose(net.inlet.period, 1.1)
    assert len(net.inlet.phase) == 99          # the sample at t = T (= t = 0) is dropped
    ours = load_network(NETWORKS / "boileau_cca.yaml")
    assert ours.outlets == net.outlets
    # ours is the diastolic form (r_d, h_d at P_d); its zero-pressure radius is openBF's R0
    w = ours.vessels[0]
    r0 = w.Rp - w.P_ref * w.Rp**2 * 3.0 / (4.0 * w.E * w.h0)
    assert (w.Rp, w.h0) == (3.0e-3, 0.3e-3) and r0 == pytest.approx(v.Rp, rel=1e-4)


def test_openbf_defects_are_refused(shared_data, tmp_path):
    src = shared_data / "oned/matthys2007"
    with pytest.raises(ConfigurationError, match="gamma profile"):
        load_network(src / "invitro_model.yaml")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = load_network(src / "invitro_model.yaml", strict=False)
    kinds = {type(w.message) for w in caught}
    assert kinds == {OpenBFInputWarning}
    assert {o.kind for o in net.outlets} == {"resistance"}
    # with the spaced key fixed, R1-without-R2 is still refused
    data = yaml.safe_load((src / "invitro_model.yaml").read_text())
    for v in data["network"]:
        v["gamma_profile"] = v.pop("gamma profile")
    data["inlet_file"] = "inlet.dat"
    shutil.copy(src / "invitro_model_inlet.dat", tmp_path / "inlet.dat")
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigurationError, match="R1 but no R2"):
        load_network(tmp_path / "m.yaml")


def test_openbf_inflow_is_read_relative_to_the_file(shared_data, tmp_path):
    src = shared_data / "oned/boileau2015/uta"
    (tmp_path / "sub").mkdir()
    shutil.copy(src / "uta.yaml", tmp_path / "sub/uta.yaml")
    shutil.copy(src / "uta_inlet.dat", tmp_path / "sub/uta_inlet.dat")
    net = load_network(tmp_path / "sub/uta.yaml")
    assert math.isclose(net.inlet.period, 0.955)


def _cca_dict():
    return to_dict(load_network(NETWORKS / "boileau_cca.yaml"))


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["vessels"][0].update(Ee=1.0), "unknown key"),
    (lambda d: d["vessels"][0].pop("zeta"), "missing key"),
    (lambda d: d["vessels"][0].update(Rp=1e-3), "R0 or"),
    (lambda d: d["outlets"][0].pop("Pout"), "missing key"),
    (lambda d: d["outlets"][0].update(type="wk3"), "type='wk3'"),
    (lambda d: d.update(colour="red"), "unknown key"),
    (lambda d: d["inlet"].pop("period"), "missing key"),
    (lambda d: d["vessels"][0].update(E="stiff"), "not a number"),
    (lambda d: d["blood"].update(mu=-1.0), "mu"),
])
def test_bad_input_is_a_named_error(edit, message):
    d = _cca_dict()
    edit(d)
    with pytest.raises(ConfigurationError, match=message):
        from_dict(d)


def test_topology_errors():
    d = _cca_dict()
    d["outlets"] = []
    with pytest.raises(ConfigurationError, match="connected to nothing"):
        layout(from_dict(d))


def test_fourier_inlet_matches_its_series():
    d = _cca_dict()
    d["inlet"] = {"vessel": "common_carotid_artery", "period": 1.0,
                  "fourier": {"a0": 5e-6, "a": [1e-6, 0.0], "b": [0.0, 2e-6]}}
    inlet = from_dict(d).inlet
    t = np.array([0.0, 0.1, 0.37])
    exact = 5e-6 + 1e-6 * np.cos(2 * np.pi * t) + 2e-6 * np.sin(4 * np.pi * t)
    np.testing.assert_allclose(inlet.q(t), exact, rtol=1e-4)
    assert math.isclose(inlet.mean(), 5e-6, rel_tol=1e-9)
