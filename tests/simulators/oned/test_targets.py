"""Parameter targets: what a named input changes in the network."""

from __future__ import annotations

import pytest

from simulators.errors import ConfigurationError
from simulators.oned import load_network
from simulators.oned import targets as tg

from .conftest import NETWORKS


@pytest.fixture(scope="module")
def ibif():
    return load_network(NETWORKS / "boileau_ibif.yaml")


def test_scale_and_set(ibif):
    out = tg.apply(ibif, [(tg.parse("outlets.*.R:scale", ibif), 2.0),
                          (tg.parse("vessels.d1.E:set", ibif), 1e6),
                          (tg.parse("vessels.parent.R0:scale", ibif), 1.1),
                          (tg.parse("inlet.Q:scale", ibif), 0.5),
                          (tg.parse("inlet.period:set", ibif), 0.9)])
    for old, new in zip(ibif.outlets, out.outlets, strict=True):
        assert new.R1 == 2 * old.R1 and new.R2 == 2 * old.R2 and new.C == old.C
    assert out.vessel("d1").E == 1e6 and out.vessel("d2").E == ibif.vessel("d2").E
    assert out.vessel("parent").Rp == pytest.approx(1.1 * ibif.vessel("parent").Rp)
    assert out.inlet.mean() == pytest.approx(0.5 * ibif.inlet.mean())
    assert out.inlet.period == 0.9
    assert ibif.vessel("d1").E == 700e3  # the original is untouched


@pytest.mark.parametrize("text, message", [
    ("outlets.*.R2", "expected"), ("outlets.*.R2:times", "mode"),
    ("vessels.nope.E:scale", "matches no"), ("vessels.*.colour:set", "field"),
    ("heart.rate:set", "group"), ("inlet.Q:set", "only be scaled"),
])
def test_bad_targets(ibif, text, message):
    with pytest.raises(ConfigurationError, match=message):
        tg.parse(text, ibif)
