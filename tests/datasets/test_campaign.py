"""Campaigns: every run archived, failures flagged, interrupted campaigns resume."""

import os
import signal
import subprocess
import sys
import time

import numpy as np

from datasets import Archive
from datasets.campaign import run_campaign
from simulators.executors import LocalExecutor
from simulators.testfunctions import IshigamiSimulator, ishigami

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_campaign_archives_results_and_failures(tmp_path):
    sim = IshigamiSimulator(fail_above=2.0)
    X = sim.space.sample(20, seed=4)
    with Archive.create(tmp_path / "c.h5", sim.space, sim.outputs) as a:
        s = run_campaign(sim, X, a, executor=LocalExecutor(2), progress=False)
        n_fail = int((X[:, 0] > 2.0).sum())
        assert (s.ok, s.failed) == (20 - n_fail, n_fail) and n_fail > 0
        assert len(a) == 20 and a.n_failed == n_fail
        Xa, y = a.arrays("y")
        np.testing.assert_allclose(y, ishigami(Xa), rtol=1e-12)
        assert all("deliberate failure" in r for r in a.reasons()[a.status() == 1])
        prov = a.provenance()
        assert set(prov["simulator"]) == {"ishigami"} and len(set(prov["config_hash"])) == 1
        # a second call resumes: nothing is recomputed, failed runs are not retried
        again = run_campaign(sim, X, a, progress=False)
        assert (again.skipped, again.ok, again.failed) == (20, 0, 0)
        # retry_failed reruns only the failed ids (they fail again, and are recorded again)
        retry = run_campaign(sim, X, a, progress=False, retry_failed=True)
        assert (retry.skipped, retry.failed) == (20 - n_fail, n_fail)


def test_batched_campaign_matches_one_by_one(tmp_path):
    sim = IshigamiSimulator(fail_above=2.5)
    X = sim.space.sample(21, seed=5)
    with Archive.create(tmp_path / "one.h5", sim.space, sim.outputs) as a, \
            Archive.create(tmp_path / "batch.h5", sim.space, sim.outputs) as b:
        s1 = run_campaign(sim, X, a, progress=False, batch_size=1)
        s8 = run_campaign(sim, X, b, executor=LocalExecutor(2), progress=False, batch_size=8)
        assert (s1.ok, s1.failed) == (s8.ok, s8.failed) and s8.failed > 0
        order = np.argsort(b.run_ids())
        np.testing.assert_array_equal(b.inputs()[order], a.inputs())
        np.testing.assert_array_equal(b.status()[order], a.status())
        ya, yb = a.output("y"), b.output("y")[order]
        np.testing.assert_array_equal(np.isnan(ya), np.isnan(yb))
        np.testing.assert_allclose(yb[~np.isnan(yb)], ya[~np.isnan(ya)], rtol=1e-15)


def _committed(path):
    if not os.path.exists(path):
        return 0
    try:  # archives are readable while a campaign appends (SWMR)
        with Archive.open(path) as a:
            return len(a)
    except OSError:  # not created yet, or being set up
        return 0


def _twinemu_run(tmp_path, run_dir):
    cmd = [sys.executable, "-m", "emulators.cli", "run", "experiment=quick",
           "simulator=ishigami", "simulator.delay=0.15", "design.n_train=30",
           "design.n_test=4", "progress=false",
           "validation.checks.r2_min=null", "validation.checks.coverage_min=null",
           f"archive={tmp_path / 'campaign.h5'}", f"hydra.run.dir={run_dir}"]
    return subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, start_new_session=True)


def test_killed_experiment_resumes_from_the_archive(tmp_path):
    """Kill `twinemu run` (SIGKILL, its worker processes too) during the simulation stage,
    then run it again: the default local executor, batches of 8 runs per task."""
    archive = tmp_path / "campaign.h5"
    proc = _twinemu_run(tmp_path, tmp_path / "run1")
    deadline = time.time() + 120
    while _committed(archive) < 6 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for _ in range(100):  # until every process of the killed group is gone
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.05)
    done_before = _committed(archive)
    assert 6 <= done_before < 30, "the run should have been killed mid-campaign"
    with Archive.open(archive) as a:
        first_ids = list(a.run_ids())
        first_stamps = list(a.provenance()["timestamp"])

    proc = _twinemu_run(tmp_path, tmp_path / "run2")
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out
    assert f"30 runs requested, {done_before} already in the archive" in out
    with Archive.open(archive) as a:
        ids = list(a.run_ids())
        assert ids[:done_before] == first_ids  # kept, in order, not recomputed
        assert list(a.provenance()["timestamp"])[:done_before] == first_stamps
        assert len(ids) == len(set(ids)) == 34  # 30 train + 4 test, no duplicates
