"""Leave-one-out calibration: 95% intervals cover 90–98% of held-out points."""

import numpy as np
import pytest

from emulators import GaussianProcess
from emulators.validation import metrics
from simulators.design import Parameter, ParameterSpace

BOREHOLE = ParameterSpace([
    Parameter("rw", 0.05, 0.15), Parameter("r", 100, 50000), Parameter("Tu", 63070, 115600),
    Parameter("Hu", 990, 1110), Parameter("Tl", 63.1, 116), Parameter("Hl", 700, 820),
    Parameter("L", 1120, 1680), Parameter("Kw", 9855, 12045)])


def borehole(X):
    """Water flow through a borehole (m³/yr; Harper & Gupta 1983, Morris et al. 1993)."""
    rw, r, Tu, Hu, Tl, Hl, L, Kw = X.T
    lr = np.log(r / rw)
    return 2 * np.pi * Tu * (Hu - Hl) / (lr * (1 + 2 * L * Tu / (lr * rw**2 * Kw) + Tu / Tl))


def test_borehole_accuracy_and_coverage():
    X = BOREHOLE.sample(200, seed=0)
    Xt = BOREHOLE.sample(1000, method="random", seed=1)
    gp = GaussianProcess(restarts=2, seed=0).fit(X, borehole(X), space=BOREHOLE)
    mean, var = gp.predict(Xt)
    m = metrics(borehole(Xt), mean, var)
    assert m.r2 >= 0.999
    assert 0.90 <= m.coverage <= 0.98
    cal = gp._card_model()["calibration"]
    assert cal["method"] == "loo" and len(cal["variance_scale"]) == 1


def test_noisy_data_keeps_its_coverage():
    space = ParameterSpace([Parameter("a", 0, 1), Parameter("b", 0, 1)])
    rng = np.random.default_rng(3)

    def f(X):
        return np.sin(5 * X[:, 0]) + X[:, 1] ** 2

    X = space.sample(150, seed=2)
    Xt = space.sample(2000, method="random", seed=4)
    y = f(X) + 0.1 * rng.standard_normal(len(X))
    yt = f(Xt) + 0.1 * rng.standard_normal(len(Xt))
    gp = GaussianProcess(restarts=2).fit(X, y, space=space)
    mean, var = gp.predict(Xt)
    assert 0.90 <= metrics(yt, mean, var).coverage <= 0.98
    assert gp.hyperparameters["noise"][0] > 1e-3  # the noise was learnt, not floored


def windkessel_default_experiment():
    """The data of ``twinemu run`` with the default config: 48 LHS train, 24 random test."""
    import yaml

    from simulators.zerod import WindkesselSimulator

    cfg = yaml.safe_load(open("conf/simulator/windkessel.yaml"))
    seed = yaml.safe_load(open("conf/config.yaml"))["seed"]
    design = yaml.safe_load(open("conf/design/lhs.yaml"))
    cfg.pop("_target_")
    sim = WindkesselSimulator(**cfg)
    s_train, s_test = np.random.SeedSequence(int(seed)).spawn(2)
    X = sim.space.sample(design["n_train"], method=design["method"],
                         seed=np.random.default_rng(s_train))
    Xt = sim.space.sample(design["n_test"], method=design["test_method"],
                          seed=np.random.default_rng(s_test))

    def run(X):
        out = [sim(p) for p in sim.space.points(X)]
        return {k: np.array([o[k] for o in out]) for k in out[0]}

    return sim, X, run(X), Xt, run(Xt)


@pytest.mark.slow
def test_windkessel_default_experiment_coverage():
    import yaml

    sim, X, Y, Xt, Yt = windkessel_default_experiment()
    gcfg = yaml.safe_load(open("conf/emulator/gp.yaml"))
    gp = GaussianProcess(kernel=gcfg["kernel"], restarts=gcfg["restarts"],
                         pca=gcfg["pca"]).fit(X, Y, space=sim.space)
    pred = gp.predict_dict(Xt)
    covs = {k: metrics(Yt[k], *pred[k]).coverage for k in Y}
    pooled = np.mean([covs[k] for k in Y])
    assert 0.90 <= pooled <= 0.98, covs
    uncal = GaussianProcess(kernel=gcfg["kernel"], restarts=gcfg["restarts"], pca=gcfg["pca"],
                            calibrate=None).fit(X, Y, space=sim.space).predict_dict(Xt)
    before = np.mean([metrics(Yt[k], *uncal[k]).coverage for k in Y])
    assert before > pooled  # the uncalibrated intervals were too wide
