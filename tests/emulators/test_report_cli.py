"""`twinemu report EMULATOR --data ARCHIVE`: the same report for any exported emulator."""

import re

from emulators.cli import main
from tests.emulators.test_check_exit_codes import setup  # noqa: F401  (module fixture)


def test_report_command_writes_html_and_markdown(setup, capsys, tmp_path):  # noqa: F811
    _, emu, good, _ = setup
    code = main(["report", str(emu), "--data", str(good), "--out", str(tmp_path / "r"),
                 "--title", "aorta emulator, release check"])
    out = capsys.readouterr()
    assert code == 0, out.err
    html = (tmp_path / "r" / "report.html").read_text()
    md = (tmp_path / "r" / "report.md").read_text()
    assert "<title>aorta emulator, release check</title>" in html
    assert "Held-out accuracy (15 runs)" in md  # 25 training runs left out
    assert "25 training runs of the emulator excluded" in md  # under Known limits
    assert len(re.findall(r'src="data:image/png;base64,', html)) == 8
    assert str(tmp_path / "r" / "report.html") in out.out


def test_report_command_bad_input_exits_2(setup, capsys, tmp_path):  # noqa: F811
    _, emu, _, _ = setup
    code = main(["report", str(emu), "--data", str(tmp_path / "missing.h5"),
                 "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "ArchiveError" in err
    assert not (tmp_path / "r" / "report.html").exists()
