"""``conf/simulator/openbf_command.yaml``: an openBF input file rendered per design point and
run by our 1D solver's command line through :class:`CommandSimulator` gives the in-process
solver's outputs; a refused input is archived with the exit code and the stderr tail."""

from __future__ import annotations

import shutil
import string
from pathlib import Path

import numpy as np
import yaml

from datasets import Archive
from datasets.campaign import run_campaign
from simulators.command import CommandSimulator
from simulators.oned import OneDSimulator

REPO = Path(__file__).resolve().parents[2]
CONFIG = REPO / "conf" / "simulator" / "openbf_command.yaml"
#: where the openBF template's placeholders land in the network (set, not scaled)
TARGETS = {"E": "vessels.*.E:set", "R2": "outlets.*.R2:set", "C": "outlets.*.C:set"}


def command_simulator(tmp_path: Path, **changes) -> CommandSimulator:
    cfg = yaml.safe_load(CONFIG.read_text())
    assert cfg.pop("_target_") == "simulators.command.CommandSimulator"
    cfg.update(changes)
    # the run folders are outside the checkout: let `python -m simulators.oned` import it
    return CommandSimulator(**cfg, workdir=str(tmp_path / "runs"),
                            env={"PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"})


def in_process(tmp_path: Path, space) -> OneDSimulator:
    """Our solver on the same openBF text (placeholders at the lower bounds, then set by
    targets), recording where the CLI does (0, 1/4, 1/2, 3/4, 1: the same periodic-state
    test) and 400 samples per cycle (the template's `jump`)."""
    cfg = yaml.safe_load(CONFIG.read_text())
    folder = tmp_path / "base"
    folder.mkdir()
    shutil.copy(REPO / "conf" / "simulator" / "networks" / "boileau_cca_inlet.dat", folder)
    text = string.Template(cfg["input"]["template"]).substitute(
        {p.name: repr(p.low) for p in space})
    (folder / "cca.yaml").write_text(text)
    sites = {n: {"vessel": "common_carotid_artery", "x": x} for n, x in
             [("inlet", 0.0), ("q1", 0.25), ("mid", 0.5), ("q3", 0.75), ("outlet", 1.0)]}
    params = [{"name": p.name, "low": p.low, "high": p.high, "unit": p.unit,
               "target": TARGETS[p.name]} for p in space]
    return OneDSimulator(folder / "cca.yaml", parameters=params, sites=sites,
                         outputs=["P_sys", "P_dia", "P_mean", "PP", "Q_max"],
                         solver={"cfl": 0.9, "max_cycles": 30, "min_cycles": 2, "tol": 1e-3},
                         phase_points=100)


def test_campaign_through_the_command_equals_the_in_process_solver(tmp_path):
    sim = command_simulator(tmp_path)
    X = sim.space.sample(2, seed=3)
    ref = in_process(tmp_path, sim.space)
    expected = ref.run_batch(sim.space.points(X))     # also compiles the kernels (cache)
    with Archive.create(tmp_path / "c.h5", sim.space, sim.outputs) as ar:
        s = run_campaign(sim, X, ar, run_ids=["r0", "r1"], progress=False)
        assert s.ok == 2 and s.failed == 0, s.reasons
        np.testing.assert_array_equal(ar.inputs(), X)
        for spec in sim.outputs:
            got = ar.output(spec.name)
            want = np.array([e[spec.name] for e in expected])
            # the same solver on the same network: equal up to JSON's exact float round trip
            np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=spec.name)
    # the design moves the outputs (the comparison is not between two constants)
    pp = [float(e["PP_inlet"]) for e in expected]
    assert abs(pp[1] - pp[0]) > 10.0, pp
    assert list((tmp_path / "runs" / "twinemu-openbf_cca").iterdir()) == []   # kept: failed


def test_refused_openbf_input_is_archived_with_exit_code_and_stderr(tmp_path):
    cfg = yaml.safe_load(CONFIG.read_text())
    broken = dict(cfg["input"], template=cfg["input"]["template"].replace(", R2: $R2", ""))
    sim = command_simulator(tmp_path, input=broken)
    X = sim.space.sample(1, seed=0)
    with Archive.create(tmp_path / "c.h5", sim.space, sim.outputs) as ar:
        s = run_campaign(sim, X, ar, run_ids=["bad"], progress=False)
        assert s.failed == 1
        reason = str(ar.reasons()[0])
    assert "exited with code 2" in reason
    assert "stderr tail: python -m simulators.oned run: error: cca.yaml.network[0]" in reason
    assert "outlet with R1 but no R2" in reason
    kept = list((tmp_path / "runs" / "twinemu-openbf_cca").iterdir())
    assert len(kept) == 1 and "R2:" not in (kept[0] / "cca.yaml").read_text()


def test_template_at_the_published_values_is_openbfs_carotid(tmp_path, shared_data):
    """Provenance: rendered at Boileau's values, the template reads to the same network as
    openBF's own cca.yaml (the shipped inflow table: its 9-digit rounding)."""
    from simulators.oned import load_network

    cfg = yaml.safe_load(CONFIG.read_text())
    shutil.copy(REPO / "conf" / "simulator" / "networks" / "boileau_cca_inlet.dat", tmp_path)
    (tmp_path / "cca.yaml").write_text(string.Template(cfg["input"]["template"]).substitute(
        E="700.0e3", R2="1.8697e9", C="1.7529e-10"))
    ours = load_network(tmp_path / "cca.yaml")
    theirs = load_network(shared_data / "oned" / "boileau2015" / "cca" / "cca.yaml")
    assert ours.vessels == theirs.vessels and ours.outlets == theirs.outlets
    assert ours.blood == theirs.blood and ours.inlet.period == theirs.inlet.period
    np.testing.assert_allclose(ours.inlet.flow, theirs.inlet.flow, rtol=1e-8)
