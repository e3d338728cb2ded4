"""Signed emulator files: the digest proves integrity, a signature proves who made it."""

import json
import subprocess
import sys

import numpy as np
import pytest
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

from emulators import GaussianProcess, runtime
from emulators.errors import EmulatorFileError, SignatureError
from emulators.runtime.signing import generate_keypair, sign_file
from tests.emulators.contract import SPACE, training_data

pytest.importorskip("cryptography")


@pytest.fixture(scope="module")
def signed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sig")
    X, Y = training_data(20)
    path = GaussianProcess(restarts=1).fit(X, Y["y"], space=SPACE).export(tmp / "e.safetensors")
    key, pub = generate_keypair(tmp / "keys")
    sign_file(path, key)
    return path, key, pub, tmp


def test_signed_file_verifies_and_predicts_the_same(signed):
    path, _, pub, _ = signed
    emu = runtime.load(path, public_key=pub)
    np.testing.assert_array_equal(emu.predict([[0.3, 2.0]])[0],
                                  runtime.load(path).predict([[0.3, 2.0]])[0])


def test_widened_bounds_with_recomputed_digest_pass_the_digest_but_not_the_signature(signed):
    path, _, pub, tmp = signed
    with safe_open(str(path), framework="np") as f:
        meta = dict(f.metadata())
    arrays = load_file(str(path))
    card = json.loads(meta["twinemu.card"])
    card["inputs"][0]["high"] = 100.0  # the domain guard silently off
    meta["twinemu.card"] = json.dumps(card, sort_keys=True)
    meta["twinemu.sha256"] = runtime.digest(arrays, meta["twinemu.card"])
    save_file(arrays, str(tmp / "forged.safetensors"), metadata=meta)
    runtime.load(tmp / "forged.safetensors")  # the digest alone cannot tell
    with pytest.raises(SignatureError, match="does not match this file and key"):
        runtime.load(tmp / "forged.safetensors", public_key=pub)


def test_unsigned_file_or_other_key_refused(signed):
    path, _, _, tmp = signed
    _, other_pub = generate_keypair(tmp / "other")
    with pytest.raises(SignatureError, match="does not match"):
        runtime.load(path, public_key=other_pub)
    X, Y = training_data(10)
    plain = GaussianProcess(restarts=1).fit(X, Y["y"], space=SPACE).export(tmp / "p.safetensors")
    with pytest.raises(SignatureError, match="is not signed"):
        runtime.load(plain, public_key=other_pub)
    assert issubclass(SignatureError, EmulatorFileError)
    with pytest.raises(SignatureError, match="not an Ed25519 key in PEM"):
        runtime.load(path, public_key=b"not a key")


def test_sign_and_verify_from_the_command_line(tmp_path):
    X, Y = training_data(10)
    gp = GaussianProcess(restarts=1).fit(X, Y["y"], space=SPACE)
    path = gp.export(tmp_path / "e.safetensors")

    def twinemu(*args):
        return subprocess.run([sys.executable, "-m", "emulators.cli", *args],
                              capture_output=True, text=True)

    assert twinemu("keygen", str(tmp_path / "k")).returncode == 0
    assert twinemu("sign", str(path), "--key", str(tmp_path / "k" / "twinemu.key")).returncode == 0
    ok = twinemu("predict", str(path), "a=0.5", "b=2", "--public-key",
                 str(tmp_path / "k" / "twinemu.pub"))
    assert ok.returncode == 0 and "y" in ok.stdout
    assert twinemu("keygen", str(tmp_path / "k")).returncode != 0  # never overwrites keys
