"""Reading a campaign archive while another process appends to it (SWMR)."""

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from datasets import Archive, ArchiveError

REPO = Path(__file__).resolve().parents[2]

WRITER = """
import sys, time
import numpy as np
sys.path.insert(0, {repo!r})
from datasets import Archive
from simulators.base import OutputSpec
from simulators.design import Parameter, ParameterSpace
space = ParameterSpace([Parameter("a", 0, 1), Parameter("b", 0, 1)])
a = Archive.open_or_create(sys.argv[1], space, [OutputSpec("y"), OutputSpec("w", "", (50,))])
i = len(a)
print("ready", flush=True)
while True:
    a.append([0.5, 0.5], {{"y": float(i), "w": np.full(50, float(i))}}, run_id=f"r{{i}}")
    i += 1
    time.sleep(0.002)
"""


def _intact(a: Archive) -> int:
    n = len(a)
    assert list(a.run_ids()) == [f"r{i}" for i in range(n)]
    np.testing.assert_array_equal(a.output("y"), np.arange(n))
    np.testing.assert_array_equal(a.output("w")[:, 25], np.arange(n))
    return n


def test_readers_see_committed_runs_while_a_campaign_appends(tmp_path):
    """A writer process appends in a loop (through several capacity growths) while this
    process reads: by reopening, and by refreshing one open reader.  Counts never go down,
    every row read is intact, and a second writer is refused with a plain message."""
    path = tmp_path / "live.h5"
    script = tmp_path / "writer.py"
    script.write_text(WRITER.format(repo=str(REPO)))
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        counts = []
        with Archive.open(path) as live:
            deadline = time.time() + 60
            while (not counts or counts[-1] < 200) and time.time() < deadline:
                with Archive.open(path) as a:  # a fresh reader
                    counts.append(_intact(a))
                live.refresh()  # a long-lived reader
                counts.append(_intact(live))
                time.sleep(0.01)
        with pytest.raises(ArchiveError, match="being appended to by another process"):
            Archive.open(path, "a")
        assert proc.poll() is None  # the writer was never disturbed
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert counts == sorted(counts) and counts[-1] >= 200 > counts[0]
    assert len(set(counts)) > 5  # we really read while it grew
    with Archive.open(path, "a") as a:  # the killed SWMR writer's flags are cleared
        n = _intact(a)
        a.append([0.1, 0.1], {"y": float(n)}, run_id=f"r{n}")
        assert a.verify().ok
