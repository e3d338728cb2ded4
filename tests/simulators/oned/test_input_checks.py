"""Inputs are checked: published Boileau forms, value checks of targets, openBF
conversion, named errors for malformed values, explicit P_ref, targets without effect."""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from simulators.errors import ConfigurationError, ParameterError, SimulationError
from simulators.oned import load_network
from simulators.oned import targets as tg
from simulators.oned.io import from_dict, from_openbf, save_network, to_dict
from simulators.oned.simulator import OneDSimulator

NETWORKS = Path(__file__).resolve().parents[3] / "conf" / "simulator" / "networks"
SITES = {"outlet": {"vessel": "common_carotid_artery", "x": 1.0}}
SOURCES = {"boileau_cca": "cca", "boileau_uta": "uta", "boileau_ibif": "ibif"}


# ------------------------------------------------------------------ 1. Boileau diastolic
@pytest.mark.parametrize("name", sorted(SOURCES))
def test_boileau_windkessel_r1_is_characteristic_impedance_at_diastole(name):
    net = load_network(NETWORKS / f"{name}.yaml")
    rho = net.blood.rho
    assert rho == 1060.0
    for o in net.outlets:
        v = net.vessel(o.vessel)
        assert v.P_ref > 9e3                      # diastolic-reference form
        a_d = math.pi * v.Rd**2
        z = rho * v.wave_speed_ref(v.L, rho) / a_d
        assert z == pytest.approx(o.R1, rel=1e-3)


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_boileau_diastolic_wall_is_openbf_zero_pressure_wall(name, shared_data):
    """Same tube law: the zero-pressure radius of our (r_d, h_d, P_d) is openBF's R0."""
    src = SOURCES[name]
    obf = load_network(shared_data / f"oned/boileau2015/{src}/{src}.yaml")
    ours = load_network(NETWORKS / f"{name}.yaml")
    assert ours.outlets == obf.outlets
    for v in ours.vessels:
        w = obf.vessel(v.label)
        r0 = v.Rp - v.P_ref * v.Rp**2 * 3.0 / (4.0 * v.E * v.h0)
        assert r0 == pytest.approx(w.Rp, rel=2e-4)
        if name != "boileau_ibif":   # openBF's ibif h0 is not a same-β/A conversion
            assert v.h0 * (r0 / v.Rp) ** 2 == pytest.approx(w.h0, rel=0.03)  # h0 rounded


# ------------------------------------------------------------------ 2. target values
def _cca():
    return load_network(NETWORKS / "boileau_cca.yaml")


@pytest.mark.parametrize("target, value, words", [
    ("outlets.*.C:set", 0.0, "C=0"),
    ("outlets.*.C:scale", -1.0, "C="),
    ("outlets.*.R2:set", 0.0, "R2=0"),
    ("outlets.*.R1:set", -1.0, "R1=-1"),
    ("inlet.Q:scale", -0.5, "inflow scale"),
    ("inlet.period:set", 0.0, "period"),
    ("vessels.*.Gamma:set", -1.0, "Gamma"),
    ("blood.mu:set", 0.0, "mu"),
    ("blood.mu:scale", float("nan"), "not finite"),
])
def test_apply_refuses_values_outside_their_domain(target, value, words):
    net = _cca()
    with pytest.raises(ParameterError, match="inlet|outlet|vessel|blood|target") as info:
        tg.apply(net, [(tg.parse(target, net), value)])
    assert target in str(info.value) and words in str(info.value)


def test_apply_refuses_reflection_coefficient_beyond_one():
    net = from_dict(_tiny(outlets=[{"vessel": "v", "type": "reflection", "Rt": 0.5}]))
    with pytest.raises(ParameterError, match="Rt=1.5"):
        tg.apply(net, [(tg.parse("outlets.v.Rt:scale", net), 3.0)])


def test_invalid_member_is_a_simulation_error_not_a_failed_batch():
    sim = OneDSimulator(_cca(), parameters=[
        {"name": "C_scale", "low": 0.0, "high": 2.0, "target": "outlets.*.C:scale"}],
        sites=SITES, outputs=["P_mean"], refine=0.5)
    out = sim.run_batch([{"C_scale": 1.0}, {"C_scale": 0.0}, {"C_scale": 1.2}])
    assert isinstance(out[1], SimulationError) and out[1].params == {"C_scale": 0.0}
    assert "outlets.*.C:scale" in out[1].reason
    assert isinstance(out[0], dict) and isinstance(out[2], dict)
    with pytest.raises(SimulationError, match="C=0"):
        sim({"C_scale": 0.0})
    assert all(isinstance(r, SimulationError) for r in sim.run_batch([{"C_scale": 0.0}]))


# ------------------------------------------------------------------ 3. openBF import
def _obf(tmp_path, **vessel):
    (tmp_path / "in.dat").write_text("0.0 1e-6\n0.5 2e-6\n1.0 1e-6\n")
    v = {"label": "v", "sn": 1, "tn": 2, "L": 0.1, "E": 4e5, "R0": 5e-3, "h0": 5e-4,
         "gamma_profile": 9, "R1": 1e7, "R2": 1e8, "Cc": 1e-8}
    v.update(vessel)
    v = {k: x for k, x in v.items() if x is not None}
    return {"project_name": "t", "inlet_file": "in.dat",
            "blood": {"rho": 1060.0, "mu": 4e-3}, "network": [v]}


def test_openbf_phi_maps_to_kelvin_voigt_gamma(tmp_path):
    net = from_openbf(_obf(tmp_path, phi=2.0), tmp_path)
    assert net.vessels[0].Gamma == pytest.approx((2 / 3) * math.sqrt(math.pi) * 2.0 * 5e-4)


@pytest.mark.parametrize("extra, words", [
    ({"visc": 1}, "visc"),
    ({"inlet": "P"}, "pressure inlet"),
    ({"inlet_number": 1}, "inlet_number"),
    ({"Rt": 0.5}, "Rt"),
    ({"outlet": "wk2"}, "wk2"),
    ({"inlet_impedance_matching": True}, "conflict"),
    ({"M": 2}, "M=2"),
    ({"M": "x"}, "M='x'"),
    ({"sn": "x"}, "sn='x'"),
    ({"phi": "x"}, "phi='x'"),
])
def test_openbf_inputs_not_implemented_are_refused(tmp_path, extra, words):
    with pytest.raises(ConfigurationError, match=words):
        from_openbf(_obf(tmp_path, **extra), tmp_path)


@pytest.mark.parametrize("blood, words", [
    ({"rho": 0.0, "mu": 4e-3}, "rho"), ({"rho": 1060.0, "mu": 0.0}, "mu"),
    ({"rho": 1060.0, "mu": "x"}, "mu='x'")])
def test_openbf_blood_is_checked(tmp_path, blood, words):
    d = _obf(tmp_path)
    d["blood"] = blood
    with pytest.raises(ConfigurationError, match=words):
        from_openbf(d, tmp_path)


def test_openbf_impedance_matching_only_without_r1_and_noted(tmp_path):
    net = from_openbf(_obf(tmp_path, R1=None, inlet_impedance_matching=True), tmp_path)
    v, o = net.vessels[0], net.outlets[0]
    assert o.R1 == pytest.approx(1060.0 * v.wave_speed_ref(v.L, 1060.0) / (math.pi * v.Rd**2))
    assert any("inlet_impedance_matching" in n for n in net.meta["notes"])
    assert "inlet_impedance_matching" in to_dict(net)["description"]


def test_openbf_conversion_writes_explicit_zero_pressure_reference(tmp_path):
    net = from_openbf(_obf(tmp_path), tmp_path)
    d = to_dict(net)
    assert d["vessels"][0]["P_ref"] == 0.0 and "P_ref = 0" in d["description"]
    save_network(net, tmp_path / "out.yaml")
    assert load_network(tmp_path / "out.yaml").vessels == net.vessels


# ------------------------------------------------------------------ 4. malformed values
def _tiny(**kw):
    d = {"format": "twinemu-oned/1", "name": "t", "blood": {"rho": 1060.0, "mu": 4e-3},
         "junction_pressure": "total",
         "vessels": [{"label": "v", "from": "a", "to": "b", "L": 0.1, "R0": 5e-3, "E": 4e5,
                      "h0": 5e-4, "zeta": 9, "P_ref": 0.0, "Pext": 0.0, "Gamma": 0.0,
                      "cells": 20}],
         "inlet": {"vessel": "v", "period": 1.0,
                   "table": {"t": [0.0, 0.5], "Q": [1e-6, 2e-6]}},
         "outlets": [{"vessel": "v", "type": "rcr", "R1": 1e7, "R2": 1e8, "C": 1e-8,
                      "Pout": 0.0}]}
    d.update(kw)
    return d


def _with(path, value):
    d = _tiny()
    node = d
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return d


@pytest.mark.parametrize("path, value, words", [
    (("vessels", 0, "cells"), "many", "cells='many'"),
    (("vessels", 0, "cells"), 2.5, "cells=2.5"),
    (("inlet", "scale"), "x", "scale='x'"),
    (("inlet", "table", "Q"), ["a", "b"], "list of numbers"),
    (("inlet", "table", "Q"), [1e-6, float("nan")], "not finite"),
    (("inlet", "table", "t"), [0.0, float("inf")], "not finite"),
    (("inlet",), {"vessel": "v", "period": 1.0, "fourier": {"a0": 0, "a": ["x"], "b": [0]}},
     "list of numbers"),
    (("inlet",), {"vessel": "v", "period": 1.0, "fourier": {"a0": "x", "a": [0], "b": [0]}},
     "a0='x'"),
    (("outlets",), None, "outlets must be a list"),
    (("outlets",), ["rcr"], "expected a mapping"),
    (("vessels",), None, "vessels must be a list"),
    (("blood", "mu"), "x", "mu='x'"),
    (("format",), "twinemu-oned/2", "twinemu-oned/2"),
])
def test_malformed_values_raise_configuration_error(path, value, words):
    with pytest.raises(ConfigurationError, match=words.replace("[", r"\[")):
        from_dict(_with(path, value))


def test_nan_in_openbf_inflow_table_is_named(tmp_path):
    d = _obf(tmp_path)
    (tmp_path / "in.dat").write_text("0.0 1e-6\n0.5 nan\n1.0 1e-6\n")
    with pytest.raises(ConfigurationError, match="non-finite"):
        from_openbf(d, tmp_path)


def test_unknown_format_version_from_file(tmp_path):
    p = tmp_path / "n.yaml"
    p.write_text(yaml.safe_dump(_tiny(format="twinemu-oned/2")))
    with pytest.raises(ConfigurationError, match="twinemu-oned/2"):
        load_network(p)


@pytest.mark.parametrize("kw, words", [
    ({"refine": 0.0}, "refine"), ({"refine": -1.0}, "refine"), ({"refine": "x"}, "refine"),
    ({"refine": 0.01}, "common_carotid_artery"),
    ({"phase_points": 100.5}, "phase_points"), ({"phase_points": "100"}, "phase_points"),
    ({"solver": {"max_cycles": "3"}}, "max_cycles"),
    ({"solver": {"max_cycles": 3.5}}, "max_cycles"),
    ({"solver": {"tol": "1e-3"}}, "tol"),
    ({"solver": {"record_points": 100.5}}, "record_points"),
])
def test_simulator_options_are_checked(kw, words):
    with pytest.raises(ConfigurationError, match=words):
        OneDSimulator(_cca(), sites=SITES, parameters=[
            {"name": "E_scale", "low": 0.9, "high": 1.1, "target": "vessels.*.E:scale"}], **kw)


def test_refine_too_small_names_the_vessel():
    with pytest.raises(ConfigurationError, match="'common_carotid_artery' with 1 cell"):
        _cca().with_resolution(0.01)


# ------------------------------------------------------------------ 5. explicit P_ref
def test_p_ref_is_required_and_zero_is_allowed():
    d = _tiny()
    del d["vessels"][0]["P_ref"]
    with pytest.raises(ConfigurationError, match="P_ref"):
        from_dict(d)
    assert from_dict(_tiny()).vessels[0].P_ref == 0.0


def test_defaults_taken_are_reported():
    d = _tiny()
    assert from_dict(d).defaults_used == ()
    for key in ("Pext", "Gamma"):
        del d["vessels"][0][key]
    del d["junction_pressure"]
    used = from_dict(d).defaults_used
    assert set(used) == {"vessels[v].Pext=0.0", "vessels[v].Gamma=0.0",
                         "junction_pressure=total"}


@pytest.mark.parametrize("path", sorted(NETWORKS.glob("*.yaml")), ids=lambda p: p.stem)
def test_every_shipped_network_gives_p_ref(path):
    data = yaml.safe_load(path.read_text())
    assert all("P_ref" in v for v in data["vessels"])
    d = copy.deepcopy(data)
    del d["vessels"][0]["P_ref"]
    with pytest.raises(ConfigurationError, match="P_ref"):
        from_dict(d)


# ------------------------------------------------------------------ 6. targets w/o effect
@pytest.mark.parametrize("target", ["outlets.*.R2:scale", "outlets.*.C:set",
                                    "outlets.*.Rt:set"])
def test_outlet_field_without_effect_is_refused(target):
    net = load_network(NETWORKS / "matthys2007_37artery.yaml")
    with pytest.raises(ConfigurationError, match="no effect"):
        tg.parse(target, net)
    tg.parse("outlets.*.R1:scale", net)          # the resistance itself applies
    tg.parse("outlets.*.R:scale", net)


def test_reflection_coefficient_on_windkessel_is_refused():
    net = _cca()
    with pytest.raises(ConfigurationError, match="no effect"):
        tg.parse("outlets.*.Rt:set", net)
    with pytest.raises(ConfigurationError, match="no effect"):
        OneDSimulator(net, parameters=[{"name": "a", "low": 0.0, "high": 0.5,
                                        "target": "outlets.*.Rt:set"}], sites=SITES)
    assert np.isfinite(tg.apply(net, [(tg.parse("outlets.*.C:scale", net), 1.1)]).outlets[0].C)
