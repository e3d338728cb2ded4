"""The numpy-only runtime: safe loading, integrity, versions, domain guard, no torch."""

import json
import warnings

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from emulators import GaussianProcess, runtime
from emulators.errors import EmulatorFileError, EmulatorVersionError, OldVersionWarning
from simulators.errors import OutOfDomainError
from tests.emulators.contract import SPACE, run_twin_side, training_data


@pytest.fixture(scope="module")
def emulator_file(tmp_path_factory):
    X, Y = training_data(30)
    gp = GaussianProcess(restarts=1).fit(X, Y["y"], space=SPACE)
    path = tmp_path_factory.mktemp("emu") / "emu.safetensors"
    gp.export(path, validation={"outputs": {"y": {"r2": 0.999, "nrmse": 0.01, "coverage": 0.95}}})
    return path


def _rewrite(src, dst, *, card=None, arrays=None, keep_digest=True):
    from safetensors import safe_open

    with safe_open(str(src), framework="np") as f:
        meta = dict(f.metadata())
    a = load_file(str(src))
    if arrays:
        a.update(arrays)
    if card is not None:
        c = json.loads(meta["twinemu.card"])
        c.update(card)
        meta["twinemu.card"] = json.dumps(c, sort_keys=True)
        if not keep_digest:
            meta["twinemu.sha256"] = runtime.digest(a, meta["twinemu.card"])
    save_file(a, str(dst), metadata=meta)


def test_runtime_imports_numpy_only(emulator_file):
    """Load and predict in a process where torch, gpytorch, scipy and pickle-ish loaders
    cannot be imported at all."""
    res = run_twin_side(f"""
        from emulators import runtime
        emu = runtime.load({str(emulator_file)!r})
        mean, var = emu.predict([[0.5, 3.0]])
        assert mean.shape == (1,) and var[0] > 0
        print("OK", sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
    """)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "OK []"


def test_tampered_file_fails_its_integrity_check(emulator_file, tmp_path):
    a = load_file(str(emulator_file))
    _rewrite(emulator_file, tmp_path / "t.safetensors",
             arrays={"gp.alpha": a["gp.alpha"] * 1.001})
    with pytest.raises(EmulatorFileError, match="integrity check"):
        runtime.load(tmp_path / "t.safetensors")
    # widening the domain in the card is tampering too
    _rewrite(emulator_file, tmp_path / "c.safetensors",
             card={"inputs": [{"name": "a", "low": 0, "high": 5}, {"name": "b", "low": 1,
                                                                   "high": 10}]})
    with pytest.raises(EmulatorFileError, match="integrity check"):
        runtime.load(tmp_path / "c.safetensors")


def test_versions_major_refused_minor_migrated(emulator_file, tmp_path):
    _rewrite(emulator_file, tmp_path / "v2.safetensors", card={"format_version": "2.0"},
             keep_digest=False)
    with pytest.raises(EmulatorVersionError, match="format 2.0"):
        runtime.load(tmp_path / "v2.safetensors")
    # a newer minor version may hold parts this runtime would ignore (1.2's draws of θ
    # read by a 1.1 runtime: the plug-in variance, silently): refused, not half-read
    _rewrite(emulator_file, tmp_path / "v19.safetensors", card={"format_version": "1.9"},
             keep_digest=False)
    with pytest.raises(EmulatorVersionError, match="newer than this runtime"):
        runtime.load(tmp_path / "v19.safetensors")
    # a file of an older minor version (1.0, before levels and prefixed blocks) migrates
    _rewrite(emulator_file, tmp_path / "v10.safetensors", card={"format_version": "1.0"},
             keep_digest=False)
    with pytest.warns(OldVersionWarning, match="1.0 migrated"):
        emu = runtime.load(tmp_path / "v10.safetensors")
    assert emu.card["levels"] == []
    np.testing.assert_array_equal(emu.predict([[0.5, 3.0]])[0],
                                  runtime.load(emulator_file).predict([[0.5, 3.0]])[0])


def test_not_an_emulator_file(tmp_path):
    (tmp_path / "x.safetensors").write_bytes(b"\x80\x04pickle? no thanks" * 4)
    with pytest.raises(EmulatorFileError, match="not a readable emulator file"):
        runtime.load(tmp_path / "x.safetensors")
    save_file({"w": np.zeros(3)}, str(tmp_path / "plain.safetensors"))
    with pytest.raises(EmulatorFileError, match="without a twinemu card"):
        runtime.load(tmp_path / "plain.safetensors")
    with pytest.raises(EmulatorFileError, match="no emulator file"):
        runtime.load(tmp_path / "missing.safetensors")


def test_domain_guard_on_every_call(emulator_file):
    emu = runtime.load(emulator_file)
    with pytest.raises(OutOfDomainError, match=r"a=1.2 outside \[0, 1\] \(row 1, column 0\)"):
        emu.predict([[0.5, 2.0], [1.2, 2.0]])
    with pytest.raises(OutOfDomainError):
        emu.predict([[np.nan, 2.0]])
    mean, _ = emu.predict({"a": [0.1, 0.2], "b": [2.0, 3.0]})
    assert mean.shape == (2,)


def test_card_carries_what_a_twin_needs(emulator_file):
    card = runtime.load(emulator_file).card
    assert card["format_version"] == runtime.FORMAT_VERSION
    assert [p["name"] for p in card["inputs"]] == ["a", "b"]
    assert card["inputs"][1]["dist"] == "loguniform" and card["inputs"][0]["unit"] == "m"
    assert len(card["training_data_sha256"]) == 64
    assert card["validation"]["outputs"]["y"]["r2"] == 0.999
    assert {"numpy", "torch", "gpytorch"} <= set(card["versions"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        runtime.load(emulator_file)  # a current file loads without warnings
