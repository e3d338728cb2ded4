"""Emulator files that lie: each edit below keeps a valid digest (recomputed), and the
runtime refuses it with EmulatorFileError instead of answering wrongly or exhausting memory."""

import json
import tracemalloc

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from emulators import GaussianProcess, runtime
from emulators.errors import EmulatorFileError
from tests.emulators.contract import SPACE, training_data


@pytest.fixture(scope="module")
def emulator_file(tmp_path_factory):
    X, Y = training_data(30)
    gp = GaussianProcess(restarts=1).fit(X, {"y": Y["y"], "w": np.outer(Y["y"], np.ones(5))},
                                         space=SPACE)
    path = tmp_path_factory.mktemp("emu") / "emu.safetensors"
    gp.export(path)
    return path


def _forge(src, dst, *, arrays=None, card=None, drop=()):
    """Edit a file and recompute its digest, as an attacker (or a careless script) would."""
    with safe_open(str(src), framework="np") as f:
        meta = dict(f.metadata())
    a = load_file(str(src))
    for k in drop:
        a.pop(k)
    a.update({k: np.ascontiguousarray(v) for k, v in (arrays or {}).items()})
    c = json.loads(meta["twinemu.card"])
    c.update(card or {})
    meta["twinemu.card"] = json.dumps(c, sort_keys=True)
    meta["twinemu.sha256"] = runtime.digest(a, meta["twinemu.card"])
    save_file(a, str(dst), metadata=meta)
    return dst


@pytest.mark.parametrize("edit, message", [
    (lambda a: {"gp.alpha": np.full_like(a["gp.alpha"], np.nan)}, "NaN or infinite"),
    (lambda a: {"gp.noise": -np.abs(a["gp.noise"])}, "must be positive"),
    (lambda a: {"gp.lengthscale": np.zeros_like(a["gp.lengthscale"])}, "must be positive"),
    (lambda a: {"gp.alpha": a["gp.alpha"][:, :1]}, r"'gp.alpha' has shape .* implies"),
    (lambda a: {"gp.L_inv": a["gp.L_inv"].transpose(0, 2, 1).copy()}, "lower triangular"),
    (lambda a: {"gp.mean": a["gp.mean"].astype(np.float16)}, "float16, not float64"),
    (lambda a: {"gp.mean": a["gp.mean"].astype(np.int64)}, "int64, not float64"),
    (lambda a: {"gp.mean": a["gp.mean"] > 0}, "bool, not float64"),
    (lambda a: {"outputs.y_std": np.zeros_like(a["outputs.y_std"])}, "must be positive"),
])
def test_rehashed_malformed_arrays_are_refused(emulator_file, tmp_path, edit, message):
    forged = _forge(emulator_file, tmp_path / "f.safetensors",
                    arrays=edit(load_file(str(emulator_file))))
    with pytest.raises(EmulatorFileError, match=message):
        runtime.load(forged)


def test_declared_sizes_cannot_become_an_allocation_bomb(emulator_file, tmp_path):
    outputs = json.loads(json.dumps(runtime.read_file(emulator_file)[0]["outputs"]))
    outputs[1] = dict(outputs[1], shape=[100_000, 100_000])  # 10^10 columns declared
    forged = _forge(emulator_file, tmp_path / "bomb.safetensors", card={"outputs": outputs})
    tracemalloc.start()
    with pytest.raises(EmulatorFileError, match="declares 10000000000 columns"):
        runtime.load(forged)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50e6
    outputs[1] = dict(outputs[1], shape=[7])  # consistent-looking, but not with the arrays
    forged = _forge(emulator_file, tmp_path / "shape.safetensors", card={"outputs": outputs})
    with pytest.raises(EmulatorFileError, match="has shape"):
        runtime.load(forged)


@pytest.mark.parametrize("card, message", [
    ({"format_version": "1.x"}, "not of the form MAJOR.MINOR"),
    ({"format_version": 11}, "not of the form MAJOR.MINOR"),
    ({"kind": "pickle"}, "unknown emulator kind 'pickle'"),
    ({"inputs": "everything"}, "no list of 'inputs'"),
    ({"model": {"kernel": "os.system"}}, "unknown kernel"),
])
def test_odd_cards_are_named_errors_not_tracebacks(emulator_file, tmp_path, card, message):
    forged = _forge(emulator_file, tmp_path / "c.safetensors", card=card)
    with pytest.raises(EmulatorFileError, match=message):
        runtime.load(forged)


def test_fifo_and_oversized_files_are_refused_without_reading(tmp_path, monkeypatch):
    import os

    fifo = tmp_path / "pipe.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(EmulatorFileError, match="not a regular file"):
        runtime.load(fifo)  # would block forever if opened
    monkeypatch.setattr(runtime.fileformat, "MAX_FILE_BYTES", 10)
    big = tmp_path / "big.safetensors"
    big.write_bytes(b"0" * 100)
    with pytest.raises(EmulatorFileError, match="larger than an emulator file can be"):
        runtime.load(big)


def test_a_million_points_predict_in_bounded_memory(emulator_file):
    emu = runtime.load(emulator_file)
    X = emu.space.from_unit(np.random.default_rng(0).random((1_000_000, 2)))
    tracemalloc.start()
    mean, var = emu.predict(X)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert mean.shape == (1_000_000, 6) and np.isfinite(var).all()
    # inputs and outputs are 8 + 2 × 48 MB; temporaries stay within the 64 MB chunk budget
    assert peak < 350e6, f"{peak / 1e6:.0f} MB"
