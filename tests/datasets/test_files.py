"""Atomic small files: a failed write leaves the old file whole."""

import subprocess
import sys
from pathlib import Path

from datasets.files import atomic_write_text

REPO = Path(__file__).resolve().parents[2]

CHILD = """
import resource, signal, sys
sys.path.insert(0, {repo!r})
from datasets.files import atomic_write_text
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (10_000, 10_000))
try:
    atomic_write_text(sys.argv[1], "x" * 50_000)
except OSError as exc:
    print("errno", exc.errno)
"""


def test_write_replaces_the_whole_file(tmp_path):
    path = tmp_path / "metrics.json"
    atomic_write_text(path, '{"r2": 0.5}')
    atomic_write_text(path, '{"r2": 0.99}\n')
    assert path.read_text() == '{"r2": 0.99}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp left


def test_a_write_that_fills_the_disk_leaves_the_old_file_intact(tmp_path):
    """A child limited to 10 kB files (RLIMIT_FSIZE, as a full disk) tries to write 50 kB:
    it gets EFBIG, and the old contents and nothing else remain."""
    path = tmp_path / "metrics.json"
    old = '{"r2": 0.97, "rmse": 1.5}\n'
    path.write_text(old)
    script = tmp_path / "child.py"
    script.write_text(CHILD.format(repo=str(REPO)))
    out = subprocess.run([sys.executable, str(script), str(path)], capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "errno 27", out.stderr  # EFBIG: the write did fail
    assert path.read_text() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child.py", "metrics.json"]
