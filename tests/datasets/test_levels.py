"""Fidelity levels as data: archives + output map → aligned, unit-converted TrainingSet."""

import numpy as np
import pytest

from datasets import Archive
from datasets.levels import LevelError, TrainingSet
from simulators.design import Parameter, ParameterSpace, nested
from simulators.units import MMHG

SPACE = ParameterSpace([Parameter("a", 0.0, 1.0), Parameter("b", 1.0, 2.0)])


def _archive(path, fidelity, outputs, rows, space=SPACE):
    with Archive.create(path, space, outputs) as ar:
        for i, (x, y) in enumerate(rows):
            ar.append(x, y, fidelity=fidelity, run_id=f"train-{i:03d}")
    return path


@pytest.fixture
def two_levels(tmp_path):
    X0, X1 = nested(SPACE, [12, 4], seed=3)
    lo = _archive(tmp_path / "lo.h5", "0d", [{"name": "p_mean", "unit": "Pa"}],
                  [(x, {"p_mean": 1000.0 * x.sum()}) for x in X0])
    # the high level names it differently, stores mmHg, and lists its inputs in another order
    swapped = ParameterSpace([SPACE["b"], SPACE["a"]])
    hi = _archive(tmp_path / "hi.h5", "1d", [{"name": "P_mean_inlet", "unit": "mmHg"}],
                  [(x[::-1], {"P_mean_inlet": 1100.0 * x.sum() / MMHG}) for x in X1],
                  space=swapped)
    return lo, hi, X0, X1


def test_output_map_aligns_names_units_and_input_order(two_levels):
    lo, hi, X0, X1 = two_levels
    ts = TrainingSet.from_archives(
        [{"fidelity": "0d", "archive": lo}, {"fidelity": "1d", "archive": hi}],
        {"p_mean": {"unit": "Pa", "0d": "p_mean", "1d": "P_mean_inlet"}}, space=SPACE)
    assert ts.fidelities == ["0d", "1d"] and ts.output_names == ["p_mean"]
    np.testing.assert_allclose(ts.levels[1].X, X1, rtol=1e-12)
    np.testing.assert_allclose(ts.levels[1].Y["p_mean"], 1100.0 * X1.sum(axis=1), rtol=1e-12)
    np.testing.assert_allclose(ts.levels[0].Y["p_mean"], 1000.0 * X0.sum(axis=1), rtol=1e-12)
    assert ts.units == {"p_mean": "Pa"} and ts.is_nested()
    card = ts.card()
    assert [c["n"] for c in card] == [12, 4] and len(card[1]["sha256"]) == 64


def test_missing_name_or_unit_mismatch_names_both(two_levels, tmp_path):
    lo, hi, *_ = two_levels
    levels = [{"fidelity": "0d", "archive": lo}, {"fidelity": "1d", "archive": hi}]
    with pytest.raises(LevelError, match=r"'p_mean' maps to 'p_mean' at level '1d'.*"
                                         r"P_mean_inlet"):
        TrainingSet.from_archives(levels, ["p_mean"], space=SPACE)
    with pytest.raises(LevelError, match=r"level '0d' gives 'p_mean' in 'Pa'.*'mL/s'"):
        TrainingSet.from_archives(
            levels, {"p_mean": {"unit": "mL/s", "0d": "p_mean", "1d": "P_mean_inlet"}},
            space=SPACE)
    with pytest.raises(LevelError, match="no successful runs of fidelity '3d'"):
        TrainingSet.from_archives([{"fidelity": "3d", "archive": lo}], ["p_mean"])


def test_nested_designs_are_subsets_and_space_filling():
    X0, X1, X2 = nested(SPACE, [40, 10, 4], seed=1)
    for lo, hi in ((X0, X1), (X1, X2)):
        assert all(np.isclose(lo, x).all(axis=1).any() for x in hi)
    # greedy maximin beats a random subset of the same size on the smallest distance
    U1 = SPACE.to_unit(X1)
    rng = np.random.default_rng(0)
    rand = SPACE.to_unit(X0)[rng.choice(40, 10, replace=False)]

    def dmin(U):
        d = np.sqrt(((U[:, None] - U[None]) ** 2).sum(-1))
        return d[np.triu_indices(len(U), 1)].min()

    assert dmin(U1) > dmin(rand)
    with pytest.raises(ValueError, match="must not grow"):
        nested(SPACE, [4, 10])


def test_single_fidelity_emulator_learns_the_top_level(two_levels):
    from emulators import GaussianProcess

    lo, hi, _, X1 = two_levels
    ts = TrainingSet.from_archives(
        [{"fidelity": "0d", "archive": lo}, {"fidelity": "1d", "archive": hi}],
        {"p_mean": {"unit": "Pa", "0d": "p_mean", "1d": "P_mean_inlet"}}, space=SPACE)
    with pytest.warns(UserWarning, match="highest fidelity level .'1d'. only"):
        gp = GaussianProcess(restarts=1).fit(ts)
    mean, _ = gp.predict_dict(X1)["p_mean"]
    np.testing.assert_allclose(mean, 1100.0 * X1.sum(axis=1), rtol=1e-3)
    assert gp.levels_card[0]["fidelity"] == "1d"
