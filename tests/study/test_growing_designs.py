"""Raising the design size extends the campaign: every run already simulated is kept (and
not simulated again); the larger design is still a Latin hypercube (or the Sobol' sequence
continued)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from datasets import Archive
from emulators.pipeline import run_experiment
from emulators.pipeline.stages import default_archive_path
from simulators.design import ParameterSpace, extend

CONF = Path(__file__).resolve().parents[2] / "conf"
SPACE = ParameterSpace([{"name": "a", "low": 0.0, "high": 1.0},
                        {"name": "b", "low": 1e-3, "high": 1.0, "dist": "loguniform"},
                        {"name": "c", "low": -2.0, "high": 3.0}])


def _strata_counts(X: np.ndarray, n: int) -> np.ndarray:
    P = SPACE.to_probability(X)
    return np.stack([np.bincount(np.minimum((P[:, j] * n).astype(int), n - 1), minlength=n)
                     for j in range(P.shape[1])])


def test_doubling_an_lhs_keeps_the_old_points_and_is_an_lhs():
    old = SPACE.sample(10, seed=3)
    new = extend(SPACE, old, 20, seed=4)
    assert new.shape == (20, 3)
    np.testing.assert_array_equal(new[:10], old)
    counts = _strata_counts(new, 20)
    # every stratum of the new resolution that the old points left empty is filled once
    old_counts = _strata_counts(old, 20)
    assert np.all(counts[old_counts == 0] == 1)
    assert counts.sum(axis=1).tolist() == [20, 20, 20]
    # old points two to a stratum at the finer cut are rare; when none, an exact LHS
    if old_counts.max() <= 1:
        assert np.all(counts == 1)
    assert np.all(SPACE.inside(new))


def test_extension_fills_space_better_than_random_additions():
    from scipy.spatial.distance import pdist

    old = SPACE.sample(12, seed=5)
    ext = extend(SPACE, old, 30, seed=6)
    rnd = np.vstack([old, SPACE.sample(18, method="random", seed=6)])
    assert pdist(SPACE.to_unit(ext)).min() > pdist(SPACE.to_unit(rnd)).min()


def _cfg(tmp_path, *over):
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=[
            "experiment=quick", "progress=false", "sensitivity.enabled=false",
            "executor=serial", "export.enabled=false", *over]), resolve=True)


@pytest.mark.parametrize("method", ["lhs", "sobol"])
def test_raising_n_train_reuses_every_archived_run(tmp_path, method):
    small = _cfg(tmp_path, "simulator=ishigami", f"design.method={method}",
                 "design.n_train=16", "design.n_test=8")
    big = _cfg(tmp_path, "simulator=ishigami", f"design.method={method}",
               "design.n_train=32", "design.n_test=12")
    # the archive is named without the sizes: both land in one archive
    assert default_archive_path(tmp_path, "quick", small) == default_archive_path(
        tmp_path, "quick", big)
    r1 = run_experiment(small, tmp_path / "o1", root=tmp_path)
    with Archive.open(r1.archive) as ar:
        ids1, X1 = [str(r) for r in ar.run_ids()], ar.inputs()
        space = ar.space
    r2 = run_experiment(big, tmp_path / "o2", root=tmp_path)
    train, test = r2.campaign
    assert (train.requested, train.skipped, train.ok) == (32, 16, 16)
    assert (test.requested, test.skipped, test.ok) == (12, 8, 4)
    with Archive.open(r2.archive) as ar:
        ids2, X2 = [str(r) for r in ar.run_ids()], ar.inputs()
    assert len(ids2) == 32 + 12 and len(set(ids2)) == len(ids2)
    for rid, x in zip(ids1, X1, strict=True):  # every old run kept under its id
        np.testing.assert_array_equal(X2[ids2.index(rid)], x)
    P = space.to_probability(X2[[i for i, r in enumerate(ids2) if r.startswith("train-")]])
    counts = np.stack([np.bincount((P[:, j] * 32).astype(int), minlength=32)
                       for j in range(3)])
    if method == "sobol":  # the scrambled sequence continued: 32 points, one per 1/32 slab
        assert np.all(counts == 1)
    else:  # augmented LHS: near-Latin (old points may share a slab at the finer cut)
        assert counts.max() <= 2 and (counts == 0).sum() <= (counts == 2).sum()
    # the emulator was fitted on all 32
    assert r2.metrics["levels"][0]["n"] == 32


def test_two_levels_grow_nested_and_keep_their_runs(tmp_path):
    from emulators.pipeline.schemas import validate
    from emulators.pipeline.stages import _designs, build_simulators, run_levels

    def cfg(n_lo, n_hi):
        conf = _cfg(tmp_path, "simulator=ishigami", "emulator=gp")
        ish = dict(conf.pop("simulator"))
        conf["data"] = {"levels": [
            {"fidelity": "lo", "simulator": {**ish, "a": 6.0}, "n_train": n_lo},
            {"fidelity": "hi", "simulator": ish, "n_train": n_hi}]}
        conf["archive"] = str(tmp_path / "mf.h5")
        return validate(conf)

    c1 = cfg(12, 5)
    run_levels(c1, build_simulators(c1), tmp_path)
    c2 = cfg(24, 9)
    sims = build_simulators(c2)
    rng = np.random.default_rng(np.random.SeedSequence(c2.seed).spawn(2)[0])
    d2 = _designs(c2, c2.levels, sims["hi"].space, rng, tmp_path)
    with Archive.open(tmp_path / "mf-lo.h5") as lo, Archive.open(tmp_path / "mf-hi.h5") as hi:
        X_lo, X_hi = lo.inputs(), hi.inputs()[[str(r).startswith("train-")
                                               for r in hi.run_ids()]]
    np.testing.assert_array_equal(d2["lo"][:12], X_lo[:12])
    np.testing.assert_array_equal(d2["hi"][:5], X_hi)
    # the grown high level is still inside the grown low level
    assert all(np.any(np.all(d2["lo"] == x, axis=1)) for x in d2["hi"])
    assert len(np.unique(d2["hi"], axis=0)) == 9


def test_a_killed_campaign_with_gaps_resumes_its_own_design():
    """Batches finish in any order: a kill can leave runs 0–7 and 16–23 archived but not
    8–15. Resuming must give every id its own point again, not re-draw the design."""
    from emulators.pipeline.stages import grow
    from simulators.design import ParameterSpace

    space = ParameterSpace([{"name": "a", "low": 0, "high": 1}, {"name": "b", "low": 0,
                                                                  "high": 2}])
    fresh = space.sample(30, method="lhs", seed=3)
    idx = np.r_[0:8, 16:24]
    out = grow(space, (idx, fresh[idx]), 30, fresh, np.random.default_rng(0))
    np.testing.assert_array_equal(out, fresh)
