"""A campaign stops cleanly: a hung run times out, Ctrl-C keeps what is done and leaves no
process behind, and the workers of a driver killed outright exit on their own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import psutil
import pytest

from datasets import Archive
from datasets.campaign import run_campaign
from simulators.executors import LocalExecutor
from simulators.testfunctions import IshigamiSimulator, ishigami
from tests.datasets.test_campaign import REPO, _committed

INTERRUPTED = "interrupted: {n} runs kept in {archive}; run the same command again to resume"


def test_a_hung_run_is_recorded_as_timed_out_and_the_rest_go_on(tmp_path):
    sim = IshigamiSimulator(hang_above=2.5)  # those runs sleep an hour
    X = sim.space.sample(12, seed=3)
    hung = X[:, 0] > 2.5
    assert 0 < hung.sum() < 12
    with Archive.create(tmp_path / "c.h5", sim.space, sim.outputs) as a:
        t0 = time.monotonic()
        s = run_campaign(sim, X, a, executor=LocalExecutor(2, timeout=1.0), progress=False,
                         batch_size=1)
        assert time.monotonic() - t0 < 60
        assert (s.ok, s.failed) == (12 - hung.sum(), hung.sum())
        order = np.argsort(a.run_ids())
        status, reasons = a.status()[order], a.reasons()[order]
        np.testing.assert_array_equal(status != 0, hung)
        assert all(r.startswith("timed out after 1 s") for r in reasons[hung])
        y = a.output("y")[order]
        np.testing.assert_allclose(y[~hung], ishigami(X[~hung]), rtol=1e-12)
        # a batch holding a hung run is failed as a whole, with its k-fold limit
        b = run_campaign(sim, X, a, executor=LocalExecutor(2, timeout=0.5), progress=False,
                         batch_size=4, run_ids=[f"b{i}" for i in range(12)])
        assert b.failed % 4 == 0 and b.failed >= hung.sum()
        assert any("timed out after 2 s (a batch of 4 runs)" in r for r in b.reasons.values())


def _start(tmp_path, n_train=60):
    cmd = [sys.executable, "-m", "emulators.cli", "run", "experiment=quick",
           "simulator=ishigami", "simulator.delay=0.25", f"design.n_train={n_train}",
           "design.n_test=4", "progress=false", "batch_size=2",
           "validation.checks.r2_min=null", "validation.checks.coverage_min=null",
           f"archive={tmp_path / 'campaign.h5'}", f"hydra.run.dir={tmp_path / 'run'}"]
    # as from a terminal's shell: SIGINT at its default, whatever this pytest process
    # inherited or was left with (an ignored SIGINT is inherited across exec, and Python then
    # installs no KeyboardInterrupt handler)
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def _wait_for_runs(proc, archive, n):
    deadline = time.time() + 180
    while _committed(archive) < n and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None and _committed(archive) >= n, "the campaign did not start"


def _all_gone(procs, seconds=10.0):
    _, alive = psutil.wait_procs(procs, timeout=seconds)
    return [(p.pid, " ".join(p.cmdline())[:80]) for p in alive if p.is_running()]


def test_ctrl_c_keeps_the_runs_prints_one_line_and_leaves_no_process(tmp_path):
    archive = tmp_path / "campaign.h5"
    proc = _start(tmp_path)
    try:
        _wait_for_runs(proc, archive, 6)
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 3  # fork server, resource tracker, workers
        at_sigint = (_committed(archive), signal.getsignal(signal.SIGINT))
        os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C at a terminal: the whole group
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 130, (f"SIGINT sent at (runs committed, pytest's own SIGINT "
                                    f"handler) = {at_sigint}:\n{out}")
    assert "Traceback" not in out and "KeyboardInterrupt" not in out, out
    with Archive.open(archive) as a:
        kept = len(a)
        assert 6 <= kept < 64 and len(set(a.run_ids())) == kept
        np.testing.assert_allclose(a.output("y"), ishigami(a.inputs()), rtol=1e-12)
    lines = [ln for ln in out.splitlines() if ln.startswith("interrupted")]
    assert lines == [INTERRUPTED.format(n=kept, archive=archive)], out
    assert out.strip().splitlines()[-1] == lines[0]
    assert _all_gone(children) == []


def test_workers_exit_when_the_driver_is_killed(tmp_path):
    archive = tmp_path / "campaign.h5"
    proc = _start(tmp_path)
    try:
        _wait_for_runs(proc, archive, 4)
        children = psutil.Process(proc.pid).children(recursive=True)
        workers = [p for p in children if p.ppid() != proc.pid]  # the fork server's
        assert len(workers) >= 1
        os.kill(proc.pid, signal.SIGKILL)  # the driver only: no one stops the workers
        proc.wait()
        assert _all_gone(children) == []
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


@pytest.mark.slow
@pytest.mark.parametrize("timeout", [2])
def test_twinemu_run_records_a_hung_run_as_timed_out(tmp_path, timeout):
    cmd = [sys.executable, "-m", "emulators.cli", "run", "experiment=quick",
           "simulator=ishigami", "simulator.hang_above=2.9", "design.n_train=24",
           "design.n_test=4", "progress=false", "batch_size=1", f"executor.timeout={timeout}",
           "validation.checks.r2_min=null", "validation.checks.coverage_min=null",
           f"archive={tmp_path / 'c.h5'}", f"hydra.run.dir={tmp_path / 'run'}"]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    with Archive.open(tmp_path / "c.h5") as a:
        hung = a.inputs()[:, 0] > 2.9
        assert hung.any(), "pick a hang_above that some design point exceeds"
        assert all(r.startswith(f"timed out after {timeout} s") for r in a.reasons()[hung])
        assert (a.status()[~hung] == 0).all()
    assert out.returncode == 0, out.stdout + out.stderr
