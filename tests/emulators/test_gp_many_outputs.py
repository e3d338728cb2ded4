"""Many correlated outputs: scalar outputs reduced together by PCA, and outputs sharing
one kernel fit (issue 14, "Many outputs")."""

from __future__ import annotations

import numpy as np
import pytest

from emulators import GaussianProcess
from emulators.errors import ConfigError
from emulators.outputs import OutputTransform
from emulators.pipeline.targets import instantiate
from emulators.runtime import load
from emulators.validation import diagnose, validate
from simulators.design import Parameter, ParameterSpace

SPACE = ParameterSpace([Parameter(f"x{i}", 0.0, 1.0, unit="m") for i in range(4)])


def _latent(X: np.ndarray) -> np.ndarray:
    """Three smooth functions of four inputs: ``(n, 3)``."""
    return np.stack([np.sin(3 * X[:, 0]) + X[:, 1] ** 2,
                     np.cos(2 * X[:, 2]) * (1 + X[:, 3]),
                     np.exp(-X[:, 3]) + 0.5 * X[:, 0] * X[:, 2]], axis=1)


def _mixtures(X: np.ndarray, m: int = 20, seed: int = 3) -> dict[str, np.ndarray]:
    """``m`` scalar outputs that are exact linear mixtures of the three functions, with
    different offsets and scales (pressures in Pa and flows in m³/s, say)."""
    rng = np.random.default_rng(seed)
    M = rng.normal(size=(3, m))
    scale = 10.0 ** rng.uniform(-6, 4, m)
    offset = rng.normal(size=m) * scale * 5
    Y = _latent(X) @ M * scale + offset
    return {f"q{j}": Y[:, j] for j in range(m)}


def _rel(a: np.ndarray, b: np.ndarray) -> float:
    """Largest difference relative to each column's largest magnitude."""
    return float(np.max(np.abs(a - b) / np.abs(b).max(axis=0)))


UNITS = {f"q{j}": ("Pa" if j % 2 else "m^3/s") for j in range(20)}


@pytest.fixture(scope="module")
def grouped():
    X = SPACE.sample(120, method="lhs", seed=1)
    Xt = SPACE.sample(300, method="lhs", seed=2)
    gp = GaussianProcess(restarts=2, pca_scalars=0.99999, seed=0)
    gp.fit(X, _mixtures(X), space=SPACE, units=UNITS)
    return gp, Xt, _mixtures(Xt)


def test_pca_scalars_reconstructs_a_rank_three_output_set(grouped):
    gp, Xt, Yt = grouped
    # 20 outputs, exact mixtures of 3 functions: 3 components explain them to rounding
    assert gp.outputs.n_latent == 3
    assert [g.members for g in gp.outputs.groups] == [[f"q{j}" for j in range(20)]]
    pred = gp.predict_dict(Xt)
    cover = []
    for name, y in Yt.items():
        mu, var = pred[name]
        r2 = 1 - np.mean((y - mu) ** 2) / np.var(y)
        assert r2 >= 0.999, (name, r2)
        assert np.all(var > 0)
        cover.append(np.abs(y - mu) <= 1.96 * np.sqrt(var))
    # the intervals mean something: pooled 95% coverage neither collapsed nor vacuous
    assert 0.85 <= np.mean(cover) <= 1.0


def test_pca_scalar_variance_is_the_components_mapped_back(grouped):
    gp, Xt, _ = grouped
    z_mean, z_var = gp._latent(Xt[:5])
    mean, var = gp.predict(Xt[:5])
    g = gp.outputs.groups[0]
    sd = gp.outputs.y_std
    # var(y_i) = s_i² Σ_k B_ki² var(z_k) + r_i (diagonal of Φ diag(σ²) Φᵀ plus truncation)
    expect = (z_var * sd**2) @ g.basis**2 * g.scale**2 + g.residual_var
    np.testing.assert_allclose(var, expect, rtol=1e-12)
    cov = gp.outputs.covariance(z_var)
    np.testing.assert_allclose(np.diagonal(cov, axis1=1, axis2=2), var, rtol=1e-12)
    # the full covariance is positive semi-definite and correlates the outputs
    assert np.linalg.eigvalsh(cov[0]).min() > -1e-10 * np.abs(cov[0]).max()
    corr = cov[0] / np.sqrt(np.outer(var[0], var[0]))
    assert np.abs(corr - np.eye(20)).max() > 0.5
    assert np.isfinite(mean).all()


def test_pca_scalar_export_predicts_like_the_fitted_object(grouped, tmp_path):
    gp, Xt, _ = grouped
    path = gp.export(tmp_path / "gp.safetensors")
    rt = load(path)
    assert rt.output_names == [f"q{j}" for j in range(20)]
    assert {o["name"]: o["unit"] for o in rt.card["outputs"]} == UNITS
    for variance in ("exact", "lowrank"):
        m1, v1 = gp.predict(Xt, variance=variance)
        m2, v2 = rt.predict(Xt, variance=variance)
        assert _rel(m2, m1) < 1e-10
        np.testing.assert_allclose(v2, v1, rtol=1e-10)
    (c1, C1), (c2, C2) = gp.predict_covariance(Xt[:4]), rt.predict_covariance(Xt[:4])
    assert C1.shape == (4, 20, 20) and _rel(c2, c1) < 1e-10
    np.testing.assert_allclose(C2, C1, rtol=1e-10, atol=1e-10 * np.abs(C1).max())
    d1, d2 = gp.predict_dict(Xt[:3]), rt.predict_dict(Xt[:3])
    assert list(d1) == list(d2)
    np.testing.assert_allclose(d2["q7"][0], d1["q7"][0], rtol=1e-10)


def test_validation_sees_the_original_names_and_units(grouped):
    gp, Xt, Yt = grouped
    res = validate(gp, Xt, Yt)
    assert list(res.metrics) == list(Yt)
    assert res.units == UNITS
    assert min(res[n].r2 for n in Yt) >= 0.999
    diag = diagnose(gp, Xt[:60], {k: v[:60] for k, v in Yt.items()})
    assert list(diag.outputs) == list(Yt)
    t = diag["q4"].mahalanobis
    assert diag["q4"].unit == "m^3/s" and diag["q5"].unit == "Pa"
    assert len(t) == 1 and t[0].label == "q4" and t[0].joint
    # D² of 60 runs against the joint covariance of q4: finite, of the expected order
    assert t[0].low / 3 < t[0].d2 < 3 * t[0].high


def test_named_scalar_groups_keep_other_outputs_apart():
    X = SPACE.sample(60, method="lhs", seed=4)
    Y = _mixtures(X, m=6)
    Y["w"] = np.sin(np.linspace(0, 3, 16))[None] * X[:, :1]
    t = OutputTransform.fit(Y, pca=2, pca_scalars=3,
                            scalar_groups={"b": ["q5", "q3"], "a": ["q2", "q0", "q1"]})
    # groups in output order, members in output order; q4 and the waveform stay apart
    assert [(g.name, g.members) for g in t.groups] == [("a", ["q0", "q1", "q2"]),
                                                       ("b", ["q3", "q5"])]
    assert [o for o, _, _ in t.latent_owners()] == ["q4", "w", "w", "a", "a", "a", "b", "b"]
    Z = t.forward(Y)
    mean, var = t.inverse(Z, np.zeros_like(Z))
    truth = np.column_stack([Y[f"q{j}"] for j in range(6)])
    np.testing.assert_allclose(mean[:, :6], truth, rtol=1e-9, atol=1e-9 * np.abs(truth).max())
    back = OutputTransform.from_arrays(t.card(), t.to_arrays())
    zv = np.random.default_rng(0).random(Z.shape)
    for a, b in zip(t.inverse(Z, zv), back.inverse(Z, zv), strict=True):
        np.testing.assert_array_equal(a, b)


def _gp_prior_draws(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``m`` outputs drawn from one Matérn-5/2 GP correlation (lengthscales 0.3, 0.6, 1.2)
    with different signal variances and means, plus a little noise: ``X (n + 200, 3)``."""
    from emulators.runtime.gp import kernel_matrix

    rng = np.random.default_rng(seed)
    U = rng.random((n + 200, 3))
    K = kernel_matrix("matern52", U, U, np.array([[0.3, 0.6, 1.2]]), np.ones(1))[0]
    L = np.linalg.cholesky(K + 1e-8 * np.eye(len(U)))
    F = L @ rng.standard_normal((len(U), m)) * np.array([0.5, 1.0, 2.0, 4.0])[:m] + np.arange(m)
    return U, F + 1e-3 * rng.standard_normal(F.shape)


def test_shared_kernel_predicts_like_per_output_fits_when_lengthscales_are_shared():
    U, F = _gp_prior_draws(150, 4, seed=5)
    X, Xt, Y, Yt = U[:150], U[150:], F[:150], F[150:]
    space = ParameterSpace([Parameter(f"u{i}", 0.0, 1.0) for i in range(3)])
    sep = GaussianProcess(restarts=2, calibrate=None).fit(X, Y, space=space)
    sh = GaussianProcess(restarts=2, calibrate=None, share_kernel=True).fit(X, Y, space=space)
    m1, v1 = sep.predict(Xt)
    m2, v2 = sh.predict(Xt)
    # the two fits differ by less than one predictive standard deviation anywhere (each
    # fit's own error is of that size), are equally accurate, and equally uncertain
    assert np.max(np.abs(m1 - m2) / np.sqrt(v1)) < 1.0
    r2 = [1 - np.mean((Yt - m) ** 2, axis=0) / Yt.var(axis=0) for m in (m1, m2)]
    assert np.abs(r2[1] - r2[0]).max() < 0.005 and r2[1].min() > 0.95
    ratio = np.median(np.sqrt(v2 / v1), axis=0)
    assert np.all((ratio > 0.8) & (ratio < 1.25)), ratio
    ls = sh.hyperparameters["lengthscale"]
    assert np.ptp(ls, axis=0).max() == 0  # one kernel
    np.testing.assert_allclose(ls[0], [0.3, 0.6, 1.2], rtol=0.35)
    assert all(r.status in ("converged", "stalled") for r in sh.fit_reports)


def test_shared_kernel_export_matches_the_fitted_object(tmp_path):
    X = SPACE.sample(80, method="lhs", seed=6)
    Xt = SPACE.sample(50, method="lhs", seed=7)
    gp = GaussianProcess(restarts=1, share_kernel=True, pca_scalars=0.9999)
    gp.fit(X, _mixtures(X, m=8), space=SPACE)
    assert gp._card_model()["share_kernel"] is True
    rt = load(gp.export(tmp_path / "sh.safetensors"))
    m1, v1 = gp.predict(Xt)
    m2, v2 = rt.predict(Xt)
    assert _rel(m2, m1) < 1e-10
    np.testing.assert_allclose(v2, v1, rtol=1e-10)


@pytest.mark.parametrize("kwargs, match", [
    ({"pca_scalars": 1.5}, "pca_scalars must be"),
    ({"pca_scalars": 0}, "pca_scalars must be"),
    ({"pca_scalars": True}, "pca_scalars must be"),
    ({"scalar_groups": {"g": ["a", "b"]}}, "scalar_groups needs pca_scalars"),
    ({"pca_scalars": 0.99, "scalar_groups": {"g": ["a"]}}, "two or more"),
    ({"pca_scalars": 0.99, "scalar_groups": ["a", "b"]}, "scalar_groups must map"),
    ({"share_kernel": "yes"}, "share_kernel must be"),
    ({"share_kernel": []}, "share_kernel must be"),
    ({"share_kernel": ["g", 3]}, "share_kernel must be"),
    ({"share_kernel": True, "shared_refine": -1}, "shared_refine must be"),
    ({"share_kernel": True, "shared_refine": 2.5}, "shared_refine must be"),
])
def test_bad_options_are_refused_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        GaussianProcess(**kwargs)


@pytest.mark.parametrize("groups, match", [
    ({"g": ["q0", "nope"]}, "'nope' is not an output"),
    ({"g": ["q0", "w"]}, "'w' is a waveform"),
    ({"q1": ["q0", "q2"]}, "unlike every output name"),
    ({"g": ["q0", "q1"], "h": ["q1", "q2"]}, "'q1' is in scalar groups"),
])
def test_bad_scalar_groups_are_refused_at_fit(groups, match):
    X = SPACE.sample(20, method="lhs", seed=8)
    Y = {**_mixtures(X, m=3), "w": np.ones((20, 4)) * X[:, :1]}
    with pytest.raises(ValueError, match=match):
        GaussianProcess(pca_scalars=0.99, scalar_groups=groups).fit(X, Y, space=SPACE)


def test_bad_config_value_is_a_config_error():
    with pytest.raises(ConfigError, match="pca_scalars must be"):
        instantiate({"_target_": "emulators.GaussianProcess", "pca_scalars": 2.5}, "emulator")
    gp = instantiate({"_target_": "emulators.GaussianProcess", "pca_scalars": 0.999,
                      "scalar_groups": {"p": ["a", "b"]}, "share_kernel": True}, "emulator")
    assert gp.scalar_groups == {"p": ["a", "b"]} and gp.share_kernel


def test_gp_yaml_declares_the_many_output_keys():
    import inspect

    import yaml

    conf = yaml.safe_load(open("conf/emulator/gp.yaml"))
    params = inspect.signature(GaussianProcess).parameters
    for key in ("pca_scalars", "scalar_groups", "share_kernel", "shared_refine"):
        assert key in conf and key in params
    assert conf["pca_scalars"] is None and conf["share_kernel"] is False
    assert conf["shared_refine"] == 0


def test_sensitivity_of_grouped_scalars_is_reported_per_output(grouped):
    from emulators.sensitivity import analyse, sobol

    gp, _, _ = grouped
    rep = analyse(gp, seed=0, n=1024, n_boot=0, posterior_draws=8, morris=False)
    assert rep.outputs == [f"q{j}" for j in range(20)]
    assert rep.units == UNITS
    # against the same estimator run on the true function (the mixtures themselves)
    truth = sobol(lambda X: np.column_stack(list(_mixtures(X).values())), SPACE, n=1024,
                  seed=0, n_boot=0)
    np.testing.assert_allclose(rep.mean.S1, truth.S1, atol=0.03)
    np.testing.assert_allclose(rep.mean.ST, truth.ST, atol=0.03)


def test_report_card_lists_every_grouped_output_with_its_unit(grouped, tmp_path):
    from emulators.report.build import card_section

    gp, _, _ = grouped
    card = load(gp.export(tmp_path / "r.safetensors")).card
    text = card_section(card)
    for j in (0, 7, 19):
        row = next(line for line in text.splitlines() if line.startswith(f"| q{j} |"))
        assert "PCA group scalars" in row and UNITS[f"q{j}"].split("^")[0] in row


def test_share_kernel_by_name_shares_within_the_named_group_only():
    X = SPACE.sample(60, method="lhs", seed=9)
    Y = {**_mixtures(X, m=6), "alone": np.sin(5 * X[:, 3])}
    gp = GaussianProcess(restarts=1, pca_scalars=3, share_kernel=["g"],
                         scalar_groups={"g": [f"q{j}" for j in range(6)]})
    gp.fit(X, Y, space=SPACE)
    owners = [o for o, _, _ in gp.outputs.latent_owners()]
    assert owners == ["alone", "g", "g", "g"]
    ls = gp.hyperparameters["lengthscale"]
    assert np.ptp(ls[1:], axis=0).max() == 0  # the group's three components share one
    assert np.abs(np.log(ls[0] / ls[1])).max() > 0.1  # the other output has its own
    assert [r.message.startswith("shared kernel") for r in gp.fit_reports] == [
        False, True, True, True]
    with pytest.raises(ValueError, match="neither outputs nor scalar groups"):
        GaussianProcess(share_kernel=["nope"]).fit(X, Y, space=SPACE)


def test_a_constant_scalar_is_left_out_of_the_group_and_of_the_shared_kernel():
    X = SPACE.sample(40, method="lhs", seed=10)
    Y = {**_mixtures(X, m=3), "c": np.full(40, 7.0)}
    with pytest.warns(UserWarning, match=r"\['c'\] are constant"):
        gp = GaussianProcess(restarts=1, pca_scalars=0.999, share_kernel=True)
        gp.fit(X, Y, space=SPACE)
    assert gp.outputs.groups[0].members == ["q0", "q1", "q2"]
    mean, var = gp.predict_dict(X[:5])["c"]
    np.testing.assert_allclose(mean, 7.0, rtol=1e-12)
    np.testing.assert_allclose(var, 1e-6 * 49.0, rtol=1e-9)  # noise_floor × value²


def _compose(*overrides):
    from pathlib import Path

    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    conf = Path(__file__).resolve().parents[2] / "conf"
    with initialize_config_dir(config_dir=str(conf), version_base="1.3"):
        return OmegaConf.to_container(compose("config", overrides=list(overrides)),
                                      resolve=True)


def test_experiment_refuses_a_group_of_unknown_outputs_before_running(tmp_path):
    from emulators.pipeline import run_experiment

    cfg = _compose("experiment=quick", "emulate=[p_sys,p_dia]", "emulator.pca_scalars=0.999",
                   "emulator.scalar_groups={p:[p_sys,p_max]}", f"archive={tmp_path / 'a.h5'}")
    with pytest.raises(ConfigError, match=r"scalar_groups.p' names \['p_max'\]"):
        run_experiment(cfg, tmp_path / "out", root=tmp_path)
    assert not (tmp_path / "a.h5").exists()  # nothing ran
    cfg = _compose("experiment=quick", "emulate=[p_sys,p_dia]", "emulator.share_kernel=[q]",
                   f"archive={tmp_path / 'a.h5'}")
    with pytest.raises(ConfigError, match="share_kernel' names"):
        run_experiment(cfg, tmp_path / "out", root=tmp_path)


@pytest.mark.slow
def test_quick_experiment_with_grouped_pressures_reports_each_pressure(tmp_path):
    import json

    from emulators.pipeline import run_experiment

    cfg = _compose("experiment=quick", "progress=false", "emulator.pca_scalars=0.99999",
                   "emulator.share_kernel=[scalars]", "emulate=[p_sys,p_dia,p_mean,p_pulse]",
                   f"archive={tmp_path / 'a.h5'}")
    res = run_experiment(cfg, tmp_path / "out", root=tmp_path)
    val = res.metrics["validation"]["outputs"]
    assert list(val) == ["p_sys", "p_dia", "p_mean", "p_pulse"]
    assert min(m["r2"] for m in val.values()) >= 0.98
    rt = load(res.emulator_file)
    assert [o.get("group") for o in rt.card["outputs"]] == ["scalars"] * 4
    assert rt.outputs.n_latent <= 3  # p_pulse = p_sys − p_dia: at most three components
    assert {o["unit"] for o in rt.card["outputs"]} == {"Pa"}
    assert "PCA group scalars" in (tmp_path / "out" / "report.md").read_text()
    assert json.loads(json.dumps(rt.card["model"]["share_kernel"])) == ["scalars"]


def test_shared_refine_gives_each_output_its_own_kernel_from_the_shared_one():
    X = SPACE.sample(60, method="lhs", seed=11)
    Xt = SPACE.sample(200, method="lhs", seed=12)
    # two outputs that do not share lengthscales: one varies fast in x0, one slowly in x3
    Y = {"fast": np.sin(8 * X[:, 0]), "slow": X[:, 3] ** 2 + 0.1 * X[:, 1]}
    Yt = {"fast": np.sin(8 * Xt[:, 0]), "slow": Xt[:, 3] ** 2 + 0.1 * Xt[:, 1]}
    shared = GaussianProcess(restarts=1, share_kernel=True).fit(X, Y, space=SPACE)
    own = GaussianProcess(restarts=1, share_kernel=True, shared_refine=40)
    own.fit(X, Y, space=SPACE)
    ls = own.hyperparameters["lengthscale"]
    assert ls[0, 0] < 0.5 * ls[1, 0]  # "fast" gets the shorter x0 lengthscale
    assert all(r.message.startswith("shared kernel, then its own") for r in own.fit_reports)
    # each output's likelihood improves on the shared optimum, and so does the fit
    for a, b in zip(own.fit_reports, shared.fit_reports, strict=True):
        assert a.loss <= b.loss + 1e-9
    r2 = {k: validate(g, Xt, Yt).metrics for k, g in (("shared", shared), ("own", own))}
    assert min(r2["own"][n].r2 for n in Y) >= min(r2["shared"][n].r2 for n in Y) - 1e-3
    with pytest.warns(UserWarning, match="shared_refine has no effect"):
        GaussianProcess(shared_refine=5)


def test_a_file_missing_its_group_basis_is_refused():
    from emulators.errors import EmulatorFileError

    X = SPACE.sample(30, method="lhs", seed=13)
    t = OutputTransform.fit(_mixtures(X, m=4), pca_scalars=2)
    arrays = t.to_arrays()
    assert arrays["outputs.group.scalars.basis"].shape == (2, 4)
    OutputTransform.from_arrays(t.card(), arrays)
    bad = {k: v for k, v in arrays.items() if k != "outputs.group.scalars.basis"}
    with pytest.raises(EmulatorFileError, match="outputs.group.scalars.basis"):
        OutputTransform.from_arrays(t.card(), bad)
    wrong = {**arrays, "outputs.group.scalars.basis": np.ones((2, 3))}
    with pytest.raises(EmulatorFileError, match="shape"):
        OutputTransform.from_arrays(t.card(), wrong)
    neg = {**arrays, "outputs.group.scalars.scale": -arrays["outputs.group.scalars.scale"]}
    with pytest.raises(EmulatorFileError, match="positive"):
        OutputTransform.from_arrays(t.card(), neg)


def test_readme_study_scale_example_runs():
    """README 'Gaussian processes at study scale': its Python block runs as written; 20
    exact mixtures of 3 functions keep 3 components and come back correlated."""
    import re
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    section = text.split("## Gaussian processes at study scale", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    ns: dict = {}
    exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - our own README
    gp, Y = ns["gp"], ns["Y"]
    assert ns["mean"].shape == (5, 20) and ns["cov"].shape == (5, 20, 20)
    np.testing.assert_allclose(ns["mean"], np.column_stack([Y[k][:5] for k in Y]),
                               rtol=1e-3, atol=1e-3)
    corr = ns["cov"][0] / np.sqrt(np.outer(np.diag(ns["cov"][0]), np.diag(ns["cov"][0])))
    assert np.abs(corr[np.triu_indices(20, 1)]).max() > 0.5  # outputs share components
    assert ns["flag"].shape == (1,) and not ns["flag"][0]   # the centre is inside the design
    assert gp.novelty(np.full((1, 6), 3.0))["flag"][0]      # far outside: flagged
