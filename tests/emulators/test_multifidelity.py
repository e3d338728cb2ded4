"""Multi-fidelity GPs against the standard low/high-fidelity pairs (known answers).

Designs are nested (a greedy maximin subset of a Latin hypercube, as in Le Gratiet &
Garnier 2014); accuracy and 95% coverage are pooled over a few seeds and 500 held-out
points per seed.  Pair definitions and design sizes: ``simulators.testfunctions``.
"""

from __future__ import annotations

import numpy as np
import pytest

from emulators import GaussianProcess, MultiFidelityGP, runtime
from emulators.errors import EmulatorFileError
from emulators.runtime.mfgp import MFGPPredictor
from simulators.design import Parameter, ParameterSpace
from simulators.testfunctions import multifidelity_pairs, nested_design
from tests.emulators.contract import run_twin_side

PAIRS = multifidelity_pairs()


def _space(bounds) -> ParameterSpace:
    return ParameterSpace([Parameter(f"x{i}", lo, hi) for i, (lo, hi) in enumerate(bounds)])


def _run(name: str, seeds, **kwargs) -> dict[str, float]:
    """R² of MF and single-fidelity GPs and the MF 95% coverage, pooled over seeds."""
    P = PAIRS[name]
    space = _space(P["bounds"])
    err_mf, err_gp, var_y, inside = [], [], [], []
    for s in seeds:
        Xl, Xh = nested_design(P["bounds"], P["n_low"], P["n_high"], s)
        Xt = space.sample(500, method="random", seed=1000 + s)
        yt = P["high"](Xt)
        mf = MultiFidelityGP(restarts=2, seed=s, **kwargs).fit(
            [(Xl, P["low"](Xl)), (Xh, P["high"](Xh))], space=space)
        mean, var = mf.predict(Xt)
        gp_mean, _ = GaussianProcess(restarts=2, seed=s).fit(Xh, P["high"](Xh),
                                                             space=space).predict(Xt)
        err_mf.append((mean - yt) ** 2)
        err_gp.append((gp_mean - yt) ** 2)
        var_y.append(np.full_like(yt, yt.var()))
        inside.append(np.abs(mean - yt) <= 1.959964 * np.sqrt(var))
    v = np.concatenate(var_y)
    return {"r2": 1 - np.concatenate(err_mf).mean() / v.mean(),
            "r2_gp": 1 - np.concatenate(err_gp).mean() / v.mean(),
            "coverage": np.concatenate(inside).mean()}


def _check(res: dict[str, float], r2_min: float, coverage=(0.90, 0.98)) -> None:
    assert res["r2"] > max(res["r2_gp"], r2_min), res
    assert coverage[0] <= res["coverage"] <= coverage[1], res


def test_forrester_beats_high_fidelity_gp_with_honest_intervals():
    res = _run("forrester", range(2))
    _check(res, 0.98)


def test_forrester_recovers_the_scale_factor():
    # f_h = 2 f_l − 20 x + 20 exactly (Forrester et al. 2007, eq. 8–9): ρ = 2 in physical
    # units; both levels share one standardisation, so the latent ρ is 2 as well.
    P = PAIRS["forrester"]
    Xl, Xh = nested_design(P["bounds"], 11, 4, 0)
    mf = MultiFidelityGP(restarts=2).fit([(Xl, P["low"](Xl)), (Xh, P["high"](Xh))])
    rho = mf._arrays["mf.1.rho"][0, 0]
    sd = np.sqrt(mf._arrays["mf.1.beta_cov"][0, 0, 0])
    assert abs(rho - 2.0) < max(3 * sd, 0.05), (rho, sd)


def test_nonlinear_option_learns_perdikaris_pair():
    # f_h = (x − √2) f_l², f_l = sin 8πx; 50 / 14 points (Perdikaris et al. 2017, §3.1):
    # NARGP with squared-exponential kernels, as in the paper, reaches relative L2 error
    # ≤ 5% (1.3% measured; Matérn-5/2 gives 6-7%); the linear model cannot (quadratic link).
    P = PAIRS["perdikaris"]
    space = _space(P["bounds"])
    Xl, Xh = nested_design(P["bounds"], 50, 14, 0)
    Xt = np.linspace(0, 1, 400)[:, None]
    yt = P["high"](Xt)
    levels = [(Xl, P["low"](Xl)), (Xh, P["high"](Xh))]
    nl = MultiFidelityGP("nonlinear", kernel="rbf", restarts=2, mc_draws=100).fit(
        levels, space=space)
    mean, var = nl.predict(Xt)
    err = np.linalg.norm(mean - yt) / np.linalg.norm(yt)
    assert err <= 0.05, err
    lin_mean, _ = MultiFidelityGP("linear", restarts=2).fit(levels, space=space).predict(Xt)
    assert np.linalg.norm(lin_mean - yt) / np.linalg.norm(yt) > 2 * err
    # Deterministic: fixed draws, so a second call is bit-identical.
    mean2, var2 = nl.predict(Xt)
    assert np.array_equal(mean, mean2) and np.array_equal(var, var2)
    assert 0.85 <= np.mean(np.abs(mean - yt) <= 1.96 * np.sqrt(var)) <= 1.0


def test_nonlinear_level_integrates_its_overall_scale():
    # A nonlinear level holds no draws of θ; its signal and noise variances are scaled
    # by (t_{ν,0.975}/z_{0.975})², ν = n − 1 (σ² integrated under its reference prior:
    # Santner et al. 2003 §4.1.3): the mean is unchanged, every variance term grows.
    from scipy.stats import norm, t

    P = PAIRS["perdikaris"]
    Xl, Xh = nested_design(P["bounds"], 30, 10, 0)
    levels = [(Xl, P["low"](Xl)), (Xh, P["high"](Xh))]
    kw = dict(kind="nonlinear", kernel="rbf", restarts=1, mc_draws=20)
    scaled = MultiFidelityGP(**kw).fit(levels, space=_space(P["bounds"]))
    plain = MultiFidelityGP(**kw, parameter_uncertainty=False).fit(
        levels, space=_space(P["bounds"]))
    c = (t.ppf(0.975, 10 - 1) / norm.ppf(0.975)) ** 2  # 1.50 with 10 points
    assert scaled._blocks["mf.1."]["calibrate"] == "t"
    assert "calibrate" not in plain._blocks["mf.1."]
    for k in ("outputscale", "rho_outputscale", "noise"):
        np.testing.assert_allclose(scaled._arrays[f"mf.1.{k}"], c * plain._arrays[f"mf.1.{k}"],
                                   rtol=1e-12)
    np.testing.assert_allclose(scaled._arrays["mf.1.alpha"] * c, plain._arrays["mf.1.alpha"],
                               rtol=1e-8)
    np.testing.assert_allclose(scaled._arrays["mf.1.beta_cov"],
                               c * plain._arrays["mf.1.beta_cov"], rtol=1e-8)


@pytest.mark.slow
def test_nargp_intervals_are_honest_over_designs():
    # Perdikaris's pair, RBF NARGP, 10 nested designs of 50/14 points, 500 held-out
    # points each: relative L2 error ≤ 5% on average (0.8-10% per design, mean 2.2%) and
    # 95% intervals covering 0.90-0.98 (0.922 measured; the plug-in top level 0.887).
    P = PAIRS["perdikaris"]
    space = _space(P["bounds"])
    errs, inside = [], []
    for s in range(10):
        Xl, Xh = nested_design(P["bounds"], 50, 14, s)
        Xt = space.sample(500, method="random", seed=1000 + s)
        yt = P["high"](Xt)
        mean, var = MultiFidelityGP("nonlinear", kernel="rbf", restarts=3).fit(
            [(Xl, P["low"](Xl)), (Xh, P["high"](Xh))], space=space).predict(Xt)
        errs.append(np.linalg.norm(mean - yt) / np.linalg.norm(yt))
        inside.append(np.abs(mean - yt) <= 1.959964 * np.sqrt(var))
    assert np.mean(errs) <= 0.05, errs
    assert 0.90 <= np.concatenate(inside).mean() <= 0.98, np.concatenate(inside).mean()


@pytest.mark.parametrize("design", [3, 6])
def test_nargp_finds_the_short_period_on_hard_designs(design):
    # On these two designs all 3 random starts (lengthscales in [0.05, 2]) ended level 0,
    # sin 8πx on 50 points, in a constant fit and NARGP's R² at −1.5; the start at the
    # design's neighbour spacing finds the period (over 10 designs R² 0.48 -> 0.997).
    P = PAIRS["perdikaris"]
    space = _space(P["bounds"])
    Xl, Xh = nested_design(P["bounds"], 50, 14, design)
    Xt = np.linspace(0, 1, 400)[:, None]
    nl = MultiFidelityGP("nonlinear", kernel="rbf", restarts=3, mc_draws=50).fit(
        [(Xl, P["low"](Xl)), (Xh, P["high"](Xh))], space=space)
    lo_mean = nl.level_predictions(Xt)[0][0][:, 0]
    z_lo = nl.outputs.forward({"y": P["low"](Xt)})[:, 0]
    assert np.mean((lo_mean - z_lo) ** 2) < 1e-3 * z_lo.var()
    yt = P["high"](Xt)
    # R² 0.974 (design 3, where emukit's NARGP gets 0.966) and 0.9995 measured
    assert 1 - np.mean((nl.predict(Xt)[0] - yt) ** 2) / yt.var() > 0.95


def _three_level_waveform_set():
    """Three nested levels of a scalar and a waveform output; level t is a cheaper
    caricature of level t+1."""
    space = ParameterSpace([Parameter("a", 0.0, 1.0, unit="m"),
                            Parameter("b", 1.0, 10.0, unit="Pa", dist="loguniform")])
    X2 = space.sample(40, method="lhs", seed=3)
    X1 = X2[:12]
    X0 = X1[:6]
    phase = np.arange(30) / 30

    def level(X, t):
        scale = (0.6, 0.85, 1.0)[t]
        y = np.sin(3 * X[:, 0]) * scale + 0.5 * np.log(X[:, 1]) + 0.1 * t * X[:, 0]
        w = scale * (1 + X[:, :1]) * np.sin(2 * np.pi * phase)[None] + 0.1 * np.log(
            X[:, 1:2]) * phase
        return {"y": y, "w": w}

    return space, [(X2, level(X2, 0)), (X1, level(X1, 1)), (X0, level(X0, 2))], level


@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
def test_export_predicts_like_the_fitted_object(kind, tmp_path):
    space, levels, _ = _three_level_waveform_set()
    mf = MultiFidelityGP(kind, restarts=1, pca=0.9999, mc_draws=20).fit(
        levels, space=space, units={"y": "mmHg", "w": "mL/s"})
    assert isinstance(mf._predictor, MFGPPredictor)  # the runtime class, in memory too
    path = mf.export(tmp_path / "mf.safetensors")
    emu = runtime.load(path)
    Xt = space.sample(30, method="random", seed=5)
    m1, v1 = mf.predict(Xt)
    m2, v2 = emu.predict(Xt)
    np.testing.assert_allclose(m2, m1, rtol=1e-8, atol=0)
    np.testing.assert_allclose(v2, v1, rtol=1e-8, atol=0)
    d = emu.predict_dict(Xt)
    assert d["w"][0].shape == (30, 30) and np.all(d["w"][1] > 0)
    card = emu.card
    assert card["kind"] == "mfgp" and card["model"]["levels"] == 3
    assert sorted(card["model"]["blocks"]) == ["mf.0.", "mf.1.", "mf.2."]
    assert [b["type"] for b in card["model"]["blocks"].values()] == ["gp", kind, kind]
    assert [lv["n"] for lv in card["levels"]] == [40, 12, 6]
    np.testing.assert_array_equal(emu.predictor.train_inputs(), space.to_unit(levels[2][0]))


def test_variance_includes_lower_level_uncertainty():
    # Var f_t ≥ ρ² Var f_{t−1} (KOH 2000 eq. 5): far from level 0's data the top-level
    # variance grows with it, and the nested top level interpolates its own points.
    space, levels, _ = _three_level_waveform_set()
    mf = MultiFidelityGP(restarts=1).fit([(X, Y["y"]) for X, Y in levels], space=space)
    Xt = space.sample(200, method="random", seed=6)
    lv = mf.level_predictions(Xt)
    rho = mf._arrays["mf.2.rho"][0, 0] * mf._arrays["mf.1.rho"][0, 0]
    assert np.all(lv[2][1] >= rho**2 * lv[0][1] * (1 - 1e-9))
    mean, var = mf.predict(levels[2][0])
    np.testing.assert_allclose(mean, levels[2][1]["y"], atol=1e-3 * np.std(levels[2][1]["y"]))


def test_training_set_object_and_non_nested_design():
    class Level:
        def __init__(self, fidelity, X, Y):
            self.fidelity, self.X, self.Y = fidelity, X, Y

    class TrainingSet:  # duck type of datasets.levels.TrainingSet
        def __init__(self, levels, space, units):
            self.levels, self.space, self.units = levels, space, units

    P = PAIRS["forrester"]
    space = _space(P["bounds"])
    Xl = np.linspace(0, 1, 11)[:, None]
    Xh = np.array([[0.05], [0.42], [0.63], [0.97]])  # not on the low-fidelity grid
    ts = TrainingSet([Level("coarse", Xl, {"y": P["low"](Xl)}),
                      Level("fine", Xh, {"y": P["high"](Xh)})], space, {"y": "m"})
    with pytest.warns(UserWarning, match="not a subset"):
        mf = MultiFidelityGP(restarts=2).fit(ts)
    assert mf._blocks["mf.1."]["nested"] is False
    assert [lv["fidelity"] for lv in mf.levels_card] == ["coarse", "fine"]
    assert mf.outputs.blocks[0].unit == "m"
    Xt = np.linspace(0, 1, 200)[:, None]
    mean, _ = mf.predict_dict(Xt)["y"]
    yt = P["high"](Xt)
    assert 1 - np.mean((mean - yt) ** 2) / yt.var() > 0.95


@pytest.mark.parametrize("kind, pair, sizes", [("linear", "forrester", (11, 4)),
                                               ("nonlinear", "perdikaris", (30, 10))])
def test_samples_carry_the_predictive_moments(kind, pair, sizes):
    # Joint draws level by level (β drawn from its GLS posterior for linear levels) have
    # the mean and variance that predict gives in closed form / by its fixed MC draws.
    P = PAIRS[pair]
    Xl, Xh = nested_design(P["bounds"], *sizes, 1)
    mf = MultiFidelityGP(kind, restarts=1).fit([(Xl, P["low"](Xl)), (Xh, P["high"](Xh))],
                                               space=_space(P["bounds"]))
    Xt = np.array([[0.1], [0.5], [0.93]])
    draws = mf.sample(Xt, 4000, seed=0)
    mean, var = mf.predict(Xt)
    assert draws.shape == (4000, 3)
    np.testing.assert_allclose(draws.mean(0), mean, atol=5 * np.sqrt(var.max() / 4000))
    # 4000 draws: ~2% sampling error of a Gaussian variance; the nonlinear level's
    # marginal is a heavy-tailed mixture (f_h ∝ f_l²), whose sample variance is noisier.
    np.testing.assert_allclose(draws.var(0), var, rtol=0.1 if kind == "linear" else 0.15)


@pytest.mark.parametrize("levels, kwargs, match", [
    ("one", {}, "at least 2 levels"),
    ("names", {}, "align names"),
    ("few", {"rho": "linear"}, "too few for rho='linear'"),
])
def test_bad_levels_are_refused(levels, kwargs, match):
    X = np.linspace(0, 1, 8)[:, None]
    data = {"one": [(X, X[:, 0])],
            "names": [(X, {"a": X[:, 0]}), (X[:4], {"b": X[:4, 0]})],
            "few": [(X, X[:, 0]), (X[:4], X[:4, 0])]}[levels]
    with pytest.raises(ValueError, match=match):
        MultiFidelityGP(restarts=1, **kwargs).fit(data)


@pytest.mark.parametrize("kwargs, match", [
    ({"parameter_uncertainty": "laplace"}, "'posterior', 'first-order' or False"),
    ({"theta_draws": 0}, r"theta_draws must be in \[1, 256\]"),
    ({"calibrate": "loo"}, "combine it with parameter_uncertainty='first-order'"),
])
def test_parameter_uncertainty_options_are_checked(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiFidelityGP(**kwargs)
    assert MultiFidelityGP(parameter_uncertainty=True).parameter_uncertainty == "posterior"
    assert MultiFidelityGP(calibrate="t", parameter_uncertainty="first-order").calibrate == "t"


def test_large_levels_keep_the_first_order_term():
    # theta_draws_max_n: level 0 (11 points) above it keeps Σ_θ, level 1 (4) gets draws
    P = PAIRS["forrester"]
    Xl, Xh = nested_design(P["bounds"], 11, 4, 0)
    mf = MultiFidelityGP(restarts=1, theta_draws=8, theta_draws_max_n=10).fit(
        [(Xl, P["low"](Xl)), (Xh, P["high"](Xh))], space=_space(P["bounds"]))
    lo, top = mf._predictor.levels
    assert lo.draws is None and lo.theta_cov is not None and np.any(lo.theta_cov != 0)
    assert top.theta_cov is None and top.weight.shape == (1, 8)
    assert "draws" not in mf._blocks["mf.0."] and mf._blocks["mf.1."]["draws"] == 8


@pytest.mark.parametrize("value", [0, 1, "yes", None])
def test_delta_ard_takes_auto_or_a_boolean(value):
    # 0 == False in Python: without the type check, 0 passed and fitted per-input scales
    with pytest.raises(ValueError, match="delta_ard must be 'auto', True or False"):
        MultiFidelityGP(delta_ard=value)


def test_malformed_file_is_refused(tmp_path):
    P = PAIRS["forrester"]
    Xl, Xh = nested_design(P["bounds"], 11, 4, 0)
    mf = MultiFidelityGP(restarts=1).fit([(Xl, P["low"](Xl)), (Xh, P["high"](Xh))],
                                         space=_space(P["bounds"]))
    card, arrays = runtime.read_file(mf.export(tmp_path / "a.safetensors"))
    # A 1.x file with two GP blocks round-trips.
    assert card["format_version"] == runtime.FORMAT_VERSION and sorted(card["model"]["blocks"]) == [
        "mf.0.", "mf.1."]
    Xt = np.linspace(0.02, 0.98, 7)[:, None]
    np.testing.assert_allclose(runtime.RuntimeEmulator(card, arrays).predict(Xt)[0],
                               mf.predict(Xt)[0], rtol=1e-12)
    bad = dict(arrays)
    bad["mf.1.rho"] = np.ones((1, 3))
    with pytest.raises(EmulatorFileError, match="mf.1.rho"):
        runtime.RuntimeEmulator(card, bad)
    del bad["mf.1.rho"]
    with pytest.raises(EmulatorFileError, match="no array 'mf.1.rho'"):
        runtime.RuntimeEmulator(card, bad)
    with pytest.raises(EmulatorFileError, match="only level 0"):  # warping: level 0 only
        runtime.RuntimeEmulator(card, {**arrays, "mf.1.warp_a": np.ones((1, 1)),
                                       "mf.1.warp_b": np.ones((1, 1))})
    with pytest.raises(EmulatorFileError, match="model.levels"):
        runtime.RuntimeEmulator({**card, "model": {**card["model"], "levels": 99}}, arrays)
    # the draws of θ: weights that are not a distribution, or draws of another shape
    K = card["model"]["blocks"]["mf.1."]["draws"]
    assert arrays["mf.1.draws.weight"].shape == (1, K) and arrays["mf.1.draws.L_inv"].shape[0] == K
    with pytest.raises(EmulatorFileError, match="summing to 1"):
        runtime.RuntimeEmulator(card, {**arrays, "mf.1.draws.weight": np.full((1, K), 0.5)})
    with pytest.raises(EmulatorFileError, match=f"must be {K - 1} draws"):
        runtime.RuntimeEmulator(card, {**arrays, "mf.1.draws.weight": np.full((1, K - 1),
                                                                            1 / (K - 1))})


def test_mfgp_file_loads_and_predicts_with_numpy_only(tmp_path):
    P = PAIRS["perdikaris"]
    Xl, Xh = nested_design(P["bounds"], 20, 6, 0)
    mf = MultiFidelityGP("nonlinear", restarts=1, mc_draws=10).fit(
        [(Xl, P["low"](Xl)), (Xh, P["high"](Xh))], space=_space(P["bounds"]))
    path = mf.export(tmp_path / "nl.safetensors")
    expected = mf.predict([[0.3]])[0][0]
    res = run_twin_side(f"""
        from emulators import runtime
        emu = runtime.load({str(path)!r})
        print(repr(float(emu.predict([[0.3]])[0][0])))
    """)
    assert res.returncode == 0, res.stderr[-2000:]
    assert float(res.stdout.strip()) == pytest.approx(expected, rel=1e-12)


def test_linear_rho_recovers_a_varying_scale(tmp_path):
    # f_h = (1 + x) f_l + x: ρ(x) = 1 + x exactly (KOH 2000 eq. 2 with ρ linear in x).
    space = _space([[0.0, 1.0]])
    Xl, Xh = nested_design(np.array([[0.0, 1.0]]), 20, 8, 0)

    def low(X):
        return np.sin(6 * X[:, 0])

    def high(X):
        return (1 + X[:, 0]) * low(X) + X[:, 0]

    mf = MultiFidelityGP(rho="linear", restarts=2).fit([(Xl, low(Xl)), (Xh, high(Xh))],
                                                       space=space)
    rho = mf._arrays["mf.1.rho"][0]  # latent ρ(u) = rho[0] + rho[1] u; shared scaling
    np.testing.assert_allclose(rho, [1.0, 1.0], atol=0.05)
    Xt = np.linspace(0, 1, 101)[:, None]
    mean, var = mf.predict(Xt)
    assert 1 - np.mean((mean - high(Xt)) ** 2) / high(Xt).var() > 0.999
    emu = runtime.load(mf.export(tmp_path / "rho.safetensors"))
    np.testing.assert_allclose(emu.predict(Xt)[1], var, rtol=1e-12)


def test_input_warping_follows_currins_steep_edge(tmp_path):
    # Currin's functions rise from 3 to 11 over x1 in [0, 0.1] and are nearly flat after:
    # a stationary kernel on 12 points cannot follow that.  Level 0 then learns a
    # Kumaraswamy warping (Snoek et al. 2014), chosen over the plain fit by leave-one-out
    # error; a < 1 on x1 stretches the steep edge.  Held-out R² 0.80 -> 0.97 on this design.
    from emulators.runtime.gp import kernel_matrix

    P = PAIRS["currin"]
    space = _space(P["bounds"])
    Xl, Xh = nested_design(P["bounds"], 12, 5, 1)
    levels = [(Xl, P["low"](Xl)), (Xh, P["high"](Xh))]
    Xt = space.sample(500, method="random", seed=1001)
    yt = P["high"](Xt)
    warped = MultiFidelityGP(restarts=2, seed=1, parameter_uncertainty="first-order"
                             ).fit(levels, space=space)
    plain = MultiFidelityGP(restarts=2, seed=1, warp=False,
                            parameter_uncertainty="first-order").fit(levels, space=space)
    assert warped._blocks["mf.0."]["warp"] == [True]
    assert warped._arrays["mf.0.warp_a"][0, 0] < 0.6
    assert "mf.0.warp_a" not in plain._arrays and "warp" not in plain._blocks["mf.0."]
    r2 = {k: 1 - np.mean((m.predict(Xt)[0] - yt) ** 2) / yt.var()
          for k, m in (("warped", warped), ("plain", plain))}
    assert r2["warped"] > 0.95 and r2["plain"] < 0.85, r2
    # the runtime warps as the fit did, and joint draws carry the same moments
    emu = runtime.load(warped.export(tmp_path / "warp.safetensors"))
    mean, var = warped.predict(Xt)
    m2, v2 = emu.predict(Xt)
    np.testing.assert_allclose(m2, mean, rtol=1e-8, atol=0)
    np.testing.assert_allclose(v2, var, rtol=1e-8, atol=0)
    # the warping shapes' uncertainty enters the variance like the lengthscales' (Kackar
    # & Harville 1984): the runtime's ∇_θ μ in θ = (log ℓ, log σ², log a, log b) equals
    # central differences of the refitted level-0 predictor
    import torch

    from emulators.mfgp.model import kumaraswamy
    from emulators.mfgp.plugin import _solve

    lo = warped._predictor.levels[0]
    assert lo.theta_cov.shape == (1, 7, 7) and np.any(lo.theta_cov[0, 3:, 3:] != 0)
    U = space.to_unit(Xs := np.array([[0.03, 0.4], [0.5, 0.5], [0.95, 0.1]]))
    z = torch.tensor(warped.outputs.forward({"y": levels[0][1]})[:, 0])
    gp = lo.gp
    theta = np.r_[np.log(gp.lengthscale[0]), np.log(gp.outputscale[0]),
                  np.log(lo.warp[0][0]), np.log(lo.warp[1][0])]

    def mean0(th):
        th = torch.tensor(th)
        _, alpha, beta = _solve("matern52", torch.tensor(gp.U), torch.ones(12, 1, dtype=z.dtype),
                                z, float(gp.noise[0] / gp.outputscale[0]), th)
        W = kumaraswamy(torch.tensor(gp.U), th[None, 3:5], th[None, 5:])[0]
        Wq = kumaraswamy(torch.tensor(U), th[None, 3:5], th[None, 5:])[0]
        Ks = kernel_matrix("matern52", W.numpy(), Wq.numpy(), np.exp(th[None, :2].numpy()),
                           np.exp(th[2:3].numpy()))[0]
        return float(beta[0]) + Ks.T @ alpha.numpy()

    np.testing.assert_allclose(mean0(theta), lo.linear(U, None, None)[0][0], rtol=1e-8)
    Ks = kernel_matrix("matern52", lo.U, lo.inputs(U), gp.lengthscale, gp.outputscale)
    grad = lo._theta_gradient(U, np.ones((1, 3, 1)), Ks)[0]
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = 1e-5
        fd = (mean0(theta + e) - mean0(theta - e)) / 2e-5
        np.testing.assert_allclose(grad[:, j], fd, rtol=1e-4, atol=1e-7)
    draws = warped.sample(Xs, 4000, seed=0)
    m3, v3 = warped.predict(Xs)
    np.testing.assert_allclose(draws.mean(0), m3, atol=5 * np.sqrt(v3.max() / 4000))
    np.testing.assert_allclose(draws.var(0), v3, rtol=0.1)


@pytest.mark.slow
@pytest.mark.parametrize("name, r2_min, coverage", [
    ("forrester", 0.98, (0.90, 0.98)),
    # Currin: with the first-order term alone the intervals covered 0.83 (0.52-0.97 per
    # design): 12 and 5 points leave ℓ's posterior far from Gaussian, and the plug-in
    # fits were over-confident between points.  Integrating θ over its posterior by
    # importance-weighted draws covers 0.93 (0.77-1.00 per design).
    ("currin", 0.90, (0.90, 0.98)),
    # Park: one design of 10 (5 points give ρ̂ = 1.08 against 0.92-1.0) costs 0.005 of
    # pooled R², which is why 3 designs showed us behind emukit; over 10 we are ahead.
    ("park", 0.97, (0.90, 0.98)),
    ("borehole", 0.99, (0.90, 0.98)),
])
def test_at_least_as_accurate_as_emukit_linear_model(name, r2_min, coverage):
    """Issue 7 on the four standard pairs, nested designs, pooled over 10 designs and
    500 held-out points each (3 designs were too few: one design moves Park's pooled R²
    by 0.005): R² at least that of emukit's linear multi-fidelity model on the same data
    (GPy's restarts seeded per design), above a GP on the high-fidelity points alone,
    and 95% intervals covering 0.90–0.98 of the truth."""
    pytest.importorskip("GPy")
    pytest.importorskip("emukit")
    from benchmarks.multifidelity import METHODS

    P = PAIRS[name]
    space = _space(P["bounds"])
    err_ours, err_peer, err_gp, var_y, inside = [], [], [], [], []
    for s in range(10):
        Xl, Xh = nested_design(P["bounds"], P["n_low"], P["n_high"], s)
        Xt = space.sample(500, method="random", seed=1000 + s)
        yt = P["high"](Xt)
        yl, yh = P["low"](Xl), P["high"](Xh)
        mean, var = MultiFidelityGP().fit([(Xl, yl), (Xh, yh)], space=space).predict(Xt)
        state = np.random.get_state()  # noqa: NPY002
        np.random.seed(s)  # noqa: NPY002 (GPy draws its restarts from the global generator)
        try:
            peer = METHODS["emukit linear"](space, Xl, yl, Xh, yh)(Xt)[0]
        finally:
            np.random.set_state(state)  # noqa: NPY002
        gp = GaussianProcess(restarts=2, seed=s).fit(Xh, yh, space=space).predict(Xt)[0]
        err_ours.append((mean - yt) ** 2)
        err_peer.append((peer - yt) ** 2)
        err_gp.append((gp - yt) ** 2)
        var_y.append(np.full_like(yt, yt.var()))
        inside.append(np.abs(mean - yt) <= 1.959964 * np.sqrt(var))
    v = np.concatenate(var_y).mean()
    r2 = {k: 1 - np.concatenate(e).mean() / v
          for k, e in (("ours", err_ours), ("emukit", err_peer), ("gp", err_gp))}
    assert r2["ours"] >= max(r2["emukit"], r2_min), r2
    assert r2["ours"] > r2["gp"], r2
    assert coverage[0] <= np.concatenate(inside).mean() <= coverage[1], (
        np.concatenate(inside).mean(), r2)


def test_covariance_parameter_term_is_the_predictor_gradient():
    # The runtime's ∇_θ μ (Harville & Jeske 1992) equals central differences of the
    # refitted GLS predictor in θ = (log ℓ, log σ²); the term only adds variance.
    import torch

    from emulators.mfgp.plugin import _solve
    from emulators.runtime.gp import kernel_matrix

    P = PAIRS["currin"]
    space = _space(P["bounds"])
    Xl, Xh = nested_design(P["bounds"], 12, 5, 1)
    levels = [(Xl, P["low"](Xl)), (Xh, P["high"](Xh))]
    mf = MultiFidelityGP(restarts=1, parameter_uncertainty="first-order").fit(levels,
                                                                             space=space)
    plain = MultiFidelityGP(restarts=1, parameter_uncertainty=False).fit(levels, space=space)
    U = space.to_unit(space.sample(7, method="random", seed=2))
    lo, top = mf._predictor.levels
    assert top.theta_cov is not None and np.any(top.theta_cov != 0)
    mu_lo = lo.linear(U, None, None)[0]
    z_lo = mf.outputs.forward({"y": levels[0][1]})[:, 0]
    idx = [int(np.argmin(np.abs(Xl - x).sum(1))) for x in Xh]
    H = np.c_[z_lo[idx], np.ones(5)]
    y = mf.outputs.forward({"y": levels[1][1]})[:, 0]
    gp = top.gp
    theta = np.r_[np.log(gp.lengthscale[0]), np.log(gp.outputscale[0])]

    def mean(th):
        _, alpha, beta = _solve("matern52", torch.tensor(gp.U), torch.tensor(H),
                                torch.tensor(y), float(gp.noise[0] / gp.outputscale[0]),
                                torch.tensor(th))
        Ks = kernel_matrix("matern52", gp.U, U, np.exp(th[None, :-1]), np.exp(th[-1:]))[0]
        return np.c_[mu_lo[0], np.ones(len(U))] @ beta.numpy() + Ks.T @ alpha.numpy()

    np.testing.assert_allclose(mean(theta), top.linear(U, mu_lo, 0 * mu_lo)[0][0], rtol=1e-8)
    h = np.ones((1, len(U), 2))
    h[0, :, 0] = mu_lo[0]
    Ks = kernel_matrix("matern52", gp.U, U, gp.lengthscale, gp.outputscale)
    grad = top._theta_gradient(U, h, Ks)[0]
    for j in range(len(theta)):
        e = np.zeros_like(theta)
        e[j] = 1e-5
        fd = (mean(theta + e) - mean(theta - e)) / 2e-5
        # the log σ² column is 0 (μ is invariant to σ² at a fixed nugget ratio)
        np.testing.assert_allclose(grad[:, j], fd, rtol=1e-4, atol=1e-8)
    Xt = space.sample(50, method="random", seed=3)
    (m1, v1), (m0, v0) = mf.predict(Xt), plain.predict(Xt)
    np.testing.assert_allclose(m1, m0, rtol=1e-10)
    assert np.all(v1 >= v0 * (1 - 1e-12)) and np.mean(v1) > 1.1 * np.mean(v0)  # 1.16


def test_shared_lengthscale_uncertainty_moves_all_inputs_together():
    # A δ with one lengthscale for 4 inputs: its Σ_θ is T Σ_φ Tᵀ with φ = (log ℓ, log σ²),
    # Σ_φ the inverse Hessian of the restricted loss in φ (one lengthscale prior, not 4;
    # eigenvalues floored at the prior's precision),
    # and the runtime's ∇_θμ summed over the inputs is the central difference in log ℓ.
    import torch

    from emulators.mfgp.model import LOG_LS_PRIOR
    from emulators.mfgp.plugin import _solve
    from emulators.runtime.gp import kernel_matrix

    P = PAIRS["park"]
    space = _space(P["bounds"])
    Xl, Xh = nested_design(P["bounds"], 30, 5, 0)
    levels = [(Xl, P["low"](Xl)), (Xh, P["high"](Xh))]
    mf = MultiFidelityGP(restarts=2, delta_ard=False,
                         parameter_uncertainty="first-order").fit(levels, space=space)
    assert mf._blocks["mf.1."]["ard"] == [False]
    lo, top = mf._predictor.levels
    gp = top.gp
    d = 4
    assert np.ptp(gp.lengthscale[0]) == 0.0
    S = top.theta_cov[0]
    np.testing.assert_allclose(S[:d, :d], S[0, 0], rtol=1e-12)
    assert np.linalg.matrix_rank(S, tol=1e-10 * np.abs(S).max()) <= 2
    z_lo = mf.outputs.forward({"y": levels[0][1]})[:, 0]
    idx = [int(np.argmin(np.abs(Xl - x).sum(1))) for x in Xh]
    H = torch.tensor(np.c_[z_lo[idx], np.ones(5)])
    y = torch.tensor(mf.outputs.forward({"y": levels[1][1]})[:, 0])
    nz = float(gp.noise[0] / gp.outputscale[0])
    mu, sd = LOG_LS_PRIOR

    def loss(phi):
        th = torch.cat([phi[:1].expand(d), phi[1:]])
        return (_solve("matern52", torch.tensor(gp.U), H, y, nz, th)[0]
                - (d - 1) * 0.5 * ((phi[0] - mu) / sd) ** 2)

    phi = torch.tensor([np.log(gp.lengthscale[0, 0]), np.log(gp.outputscale[0])])
    w, E = np.linalg.eigh(torch.func.hessian(loss)(phi).numpy())
    Sphi = (E / np.maximum(w, 1 / sd**2)) @ E.T  # no wider than the prior (see plugin)
    np.testing.assert_allclose(S[np.ix_([0, d], [0, d])], Sphi, rtol=1e-6)
    U = space.to_unit(space.sample(6, method="random", seed=4))
    mu_lo = lo.linear(U, None, None)[0]

    def mean(log_ls):
        th = torch.tensor(np.r_[[log_ls] * d, np.log(gp.outputscale[0])])
        _, alpha, beta = _solve("matern52", torch.tensor(gp.U), H, y, nz, th)
        Ks = kernel_matrix("matern52", gp.U, U, np.full((1, d), np.exp(log_ls)),
                           gp.outputscale)[0]
        return np.c_[mu_lo[0], np.ones(len(U))] @ beta.numpy() + Ks.T @ alpha.numpy()

    h = np.ones((1, len(U), 2))
    h[0, :, 0] = mu_lo[0]
    Ks = kernel_matrix("matern52", gp.U, U, gp.lengthscale, gp.outputscale)
    grad = top._theta_gradient(U, h, Ks)[0]
    fd = (mean(float(phi[0]) + 1e-5) - mean(float(phi[0]) - 1e-5)) / 2e-5
    np.testing.assert_allclose(grad[:, :d].sum(1), fd, rtol=1e-4, atol=1e-8)


def test_evidence_keeps_ard_only_where_the_data_earn_it():
    # δ varies along x1 alone and 14 high-fidelity points see it: per-input lengthscales
    # win (x2, x3 switched off).  Park's 5 points in 4D cannot tell 4 lengthscales apart:
    # the shared one wins (Occam factor, MacKay 1992).
    rng = np.random.default_rng(0)
    space = _space([(0.0, 1.0)] * 3)
    Xl = space.sample(40, method="lhs", seed=0)
    Xh = Xl[rng.choice(40, 14, replace=False)]

    def low(X):
        return np.sin(2 * np.pi * X[:, 0]) + X[:, 1] + X[:, 2] ** 2

    def high(X):
        return 1.5 * low(X) + np.sin(9 * X[:, 0])

    mf = MultiFidelityGP(restarts=2).fit([(Xl, low(Xl)), (Xh, high(Xh))], space=space)
    assert mf._blocks["mf.1."]["ard"] == [True]
    ls = mf._predictor.levels[1].gp.lengthscale[0]
    assert ls[0] < 0.5 * min(ls[1], ls[2]), ls
    P = PAIRS["park"]
    Xl, Xh = nested_design(P["bounds"], 30, 5, 0)
    mf = MultiFidelityGP(restarts=2).fit([(Xl, P["low"](Xl)), (Xh, P["high"](Xh))],
                                         space=_space(P["bounds"]))
    assert mf._blocks["mf.1."]["ard"] == [False]


def test_theta_draws_integrate_the_restricted_posterior():
    # Known answer: the posterior predictive with the covariance parameters integrated
    # out, E_θ[μ(x;θ)] and E_θ[σ²(x;θ)] + Var_θ[μ(x;θ)] over θ = (log ℓ, log σ²)'s
    # restricted posterior (the fit's loss), by a 2-D quadrature grid.  Nine points on a
    # sine leave ℓ loosely identified.  The plug-in variance (θ = θ̂) carries 37% of the
    # exact one and the first-order term 38%; the importance-weighted draws
    # 60-88% (mean 0.75).  What they miss is the posterior's tail towards lengthscales
    # shorter than the point spacing (nearly white-noise fits, weighted by the prior's
    # tail alone), which a Gaussian proposal does not reach.
    import torch

    from emulators.mfgp.fit import draw_arrays, fit_level
    from emulators.mfgp.plugin import _solve
    from emulators.runtime.gp import kernel_matrix

    U = np.linspace(0.03, 0.97, 9)[:, None]
    y = np.sin(6.0 * U[:, 0])[None]
    y = (y - y.mean()) / y.std()
    H = np.ones((1, 9, 1))
    arrays, _ = fit_level(U, H, y, kernel="matern52")
    Uq = np.linspace(0.0, 1.0, 41)[:, None]
    nz = float(arrays["noise"][0] / arrays["outputscale"][0])

    def predictive(th):  # kriging with the GLS constant (R&W 2006 eq. 2.42)
        K = kernel_matrix("matern52", U, U, np.exp(th[None, :1]), np.exp(th[1:]))[0]
        K = K + nz * np.exp(th[1]) * np.eye(9)
        ks = kernel_matrix("matern52", U, Uq, np.exp(th[None, :1]), np.exp(th[1:]))[0]
        Ki = np.linalg.inv(K)
        one = np.ones(9)
        c = 1.0 / (one @ Ki @ one)
        beta = c * one @ Ki @ y[0]
        r = 1.0 - ks.T @ Ki @ one
        return (beta + ks.T @ Ki @ (y[0] - beta),
                np.exp(th[1]) - np.einsum("nq,nm,mq->q", ks, Ki, ks) + c * r**2)

    ls = np.linspace(np.log(0.01), np.log(100.0), 121)
    th_hat = np.log(arrays["outputscale"][0])
    s2 = np.linspace(th_hat - 6.0, th_hat + 6.0, 81)
    logp, means, varis = [], [], []
    for a in ls:
        for b in s2:
            th = np.array([a, b])
            logp.append(-float(_solve("matern52", torch.tensor(U), torch.tensor(H[0]),
                                      torch.tensor(y[0]), nz, torch.tensor(th))[0]))
            mu, v = predictive(th)
            means.append(mu)
            varis.append(v)
    w = np.exp(np.array(logp) - max(logp))
    w /= w.sum()
    means, varis = np.array(means), np.array(varis)
    mean_q = w @ means
    var_q = w @ (varis + (means - mean_q) ** 2)

    draws = draw_arrays("matern52", U, H, y, arrays, np.array([False]), 256)
    card = {"inputs": [None], "model": {"levels": 1, "blocks": {
        "mf.0.": {"type": "gp", "kernel": "matern52", "draws": 256}}}}
    pred = MFGPPredictor(card, {**{f"mf.0.{k}": v for k, v in arrays.items()},
                                **{f"mf.0.draws.{k}": v for k, v in draws.items()}})
    mean_d, var_d = (a[0] for a in pred.level_predictions(Uq)[0])
    plug_var = predictive(np.r_[np.log(arrays["lengthscale"][0]),
                                np.log(arrays["outputscale"])])[1]
    sd = np.sqrt(var_q)
    first = MFGPPredictor(card, {f"mf.0.{k}": v for k, v in arrays.items()})
    var_1 = first.level_predictions(Uq)[0][1][0]
    assert np.max(np.abs(mean_d - mean_q) / sd) < 0.05  # 0.012
    ratio = var_d / var_q
    assert 0.55 < ratio.min() and ratio.max() < 1.05, (ratio.min(), ratio.max())
    assert np.mean(ratio) > 0.7
    assert np.mean(plug_var / var_q) < 0.45 and np.mean(var_1 / var_q) < np.mean(ratio) - 0.15


def test_theta_draws_that_cannot_be_factorised_get_no_weight():
    # A proposal far too wide for an RBF level without a nugget: draws with long
    # lengthscales give a covariance matrix that is singular in float64.  They get
    # weight 0 and θ̂ in their place; the level still predicts finite moments.
    from emulators.mfgp.fit import draw_arrays, fit_level

    U = np.linspace(0.0, 1.0, 12)[:, None]
    y = np.cos(3.0 * U[:, 0])[None]
    H = np.ones((1, 12, 1))
    arrays, _ = fit_level(U, H, y, kernel="rbf", noise_floor=1e-10)
    arrays["noise"] = arrays["outputscale"] * 1e-300  # no nugget to speak of
    arrays["lengthscale"] = np.array([[0.05]])  # θ̂ itself stays factorisable
    wide = {**arrays, "theta_cov": np.diag([100.0, 1.0])[None]}
    draws = draw_arrays("rbf", U, H, y, wide, np.array([False]), 32)
    w = draws["weight"][0]
    assert np.isclose(w.sum(), 1.0) and np.all(w >= 0)
    replaced = np.isclose(draws["lengthscale"][:, 0], 0.05, rtol=1e-12) & (w == 0)
    assert replaced.sum() >= 4
    assert draws["lengthscale"].max() < 10.0
    card = {"inputs": [None], "model": {"levels": 1, "blocks": {
        "mf.0.": {"type": "gp", "kernel": "rbf", "draws": 32}}}}
    pred = MFGPPredictor(card, {**{f"mf.0.{k}": v for k, v in arrays.items()},
                                **{f"mf.0.draws.{k}": v for k, v in draws.items()}})
    mean, var = pred.level_predictions(np.linspace(0, 1, 9)[:, None])[0]
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(var)) and np.all(var >= 0)
