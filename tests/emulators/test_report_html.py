"""The validation report: one template rendered to self-contained HTML and its Markdown
twin; the HTML opens in headless Chromium without console errors, every <img> decodes, and
a screenshot shows the plots."""

import base64
import html
import json
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest

from emulators import runtime
from emulators.report import experiment_report
from emulators.validation import diagnose, leave_one_out
from tests.emulators.contract import SPACE, fitted_and_validated, smooth_function, waveform

TITLE = "twinemu experiment: windkessel check"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="headless Chromium absent (Debian: apt-get install -y chromium)")


def truth(X):
    return {"p_mean": 1.3e4 * (1 + 0.1 * smooth_function(X)),
            "q_wave": 1e-4 * (1.5 + waveform(X, 50))}


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    gp, res, X, Xt = fitted_and_validated(truth, {"p_mean": "Pa", "q_wave": "m^3/s"}, 30, 20)
    card = runtime.read_file(gp.export(out / "emulator.safetensors",
                                       validation=res.to_dict()))[0]
    html_path, md_path = experiment_report(
        out, title=TITLE, result=res, emulator=gp, card=card,
        provenance={"archives": [{"path": "outputs/campaigns/wk.h5", "sha256": "ab" * 32,
                                  "runs": 50}],
                    "levels": [{"fidelity": "0d", "n_train": 30, "n_test": 20}],
                    "simulator": "windkessel 1.0"},
        space=SPACE, campaign_text="- 50 ok, 0 failed",
        checks={"p_mean": {"passed": True, "why": ""},
                "q_wave": {"passed": False, "why": "NRMSE 0.2 > 0.1"}},
        loo=leave_one_out(gp, truth(X)), diagnostics=diagnose(gp, Xt, truth(Xt)),
        extra_sections=[("Sobol' sensitivity", "| input | ST |\n|---|---|\n| a | 0.7 |", [])],
        intended_use="Research: mean aortic pressure of adults at rest.",
        known_limits=["Rigid-wall Windkessel; no wave reflections."], elapsed_s=12.5)
    return out, html_path, md_path, res


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


def embedded_images(text: str) -> list[bytes]:
    return [base64.b64decode(m) for m in re.findall(r'src="data:image/png;base64,([^"]+)"',
                                                     text)]


def test_title_is_the_experiment_not_an_output(report):
    _, h, md, _ = report
    assert f"<title>{html.escape(TITLE)}</title>" in h.read_text()
    assert md.read_text().splitlines()[0] == f"# {TITLE}"


def test_html_is_self_contained_with_every_plot_embedded(report):
    out, h, _, _ = report
    text = h.read_text()
    assert "<script" not in text and "http://" not in text and "https://" not in text
    srcs = re.findall(r'src="([^"]*)"', text)
    assert srcs and all(s.startswith("data:image/png;base64,") for s in srcs)
    images = embedded_images(text)
    # parity, residuals, waveforms, coverage, std errors, QQ, pivoted, relevance
    assert len(images) == 8
    for data in images:
        w, hgt = png_size(data)
        assert w >= 400 and hgt >= 300
    pngs = {p.read_bytes() for p in out.glob("*.png")}
    assert all(img in pngs for img in images)


def test_markdown_twin_has_the_same_sections_and_links_existing_pngs(report):
    out, h, md, _ = report
    text = md.read_text()
    md_heads = re.findall(r"^## (.+)$", text, flags=re.M)
    html_heads = [html.unescape(re.sub("<[^>]+>", "", x))
                  for x in re.findall(r'<h2 id="s\d+">(.*?)</h2>', h.read_text())]
    assert md_heads == html_heads
    for want in ("Summary", "Intended use", "Held-out accuracy (20 runs)", "Accuracy checks",
                 "Cross-validation (LOO, 30 runs)", "Diagnostics (Bastos & O'Hagan 2009)",
                 "Emulator card", "Data provenance", "Known limits", "Sobol' sensitivity"):
        assert want in md_heads
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    assert len(links) == 8 and all((out / p).is_file() for p in links)
    assert "ab" * 32 in text and "0d" in text  # provenance: hash and fidelity level
    assert "**FAIL**" in text and "NRMSE 0.2 > 0.1" in text


def test_units_are_shown_the_same_way_everywhere(report):
    _, h, md, res = report
    text = md.read_text()
    row = next(ln for ln in text.splitlines() if ln.startswith("| p_mean | mmHg |"))
    rmse_mmHg = float(row.split("|")[3])
    assert rmse_mmHg == pytest.approx(res["p_mean"].rmse / 133.322387415, rel=1e-3)
    assert res.to_dict()["outputs"]["p_mean"]["unit"] == "mmHg"
    assert res.to_dict()["outputs"]["p_mean"]["rmse"] == pytest.approx(rmse_mmHg, rel=1e-3)
    assert "mmHg" in res.table().splitlines()[1] and "mL/s" in res.table().splitlines()[2]
    assert "| q_wave | mL/s |" in text


def test_waveform_table_and_plot_pick_the_worst_run(report):
    _, _, md, res = report
    worst = int(np.nanargmax(res["q_wave"].rel_l2))
    assert f"(#{worst}) |" in md.read_text()


# -- in a browser --------------------------------------------------------------------------
def chromium(*args, timeout=90):
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                           "--hide-scrollbars", "--no-first-run", "--enable-logging=stderr",
                           "--v=0", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout)


PROBE = ("<script>window.addEventListener('load', () => {document.body.setAttribute("
         "'data-img', JSON.stringify([...document.images].map(i => i.complete ? "
         "i.naturalWidth : -1)));});</script></body>")


def image_widths(page, tmp_path):
    """naturalWidth of every <img> after load, from a copy of ``page`` with a test-only
    probe script (the report itself carries no script)."""
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text().replace("</body>", PROBE))
    res = chromium("--virtual-time-budget=15000", "--dump-dom", probe.as_uri())
    m = re.search(r'data-img="([^"]*)"', res.stdout)
    assert m, res.stderr[-2000:]
    return json.loads(html.unescape(m.group(1))), res


def console_messages(stderr: str) -> list[str]:
    return [ln for ln in stderr.splitlines() if ":CONSOLE" in ln]


@needs_chromium
def test_every_img_decodes_in_chromium(report, tmp_path):
    _, h, _, _ = report
    widths, _ = image_widths(h, tmp_path)
    expected = [png_size(d)[0] for d in embedded_images(h.read_text())]
    assert len(widths) == 8 and widths == expected


@needs_chromium
def test_the_probe_catches_a_broken_image_and_a_console_error(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!DOCTYPE html><html><body><img src="missing.png">'
                    '<script>console.error("boom")</script></body></html>')
    widths, res = image_widths(page, tmp_path)
    assert widths == [0]
    assert any("boom" in ln for ln in console_messages(res.stderr))


@needs_chromium
def test_report_opens_without_console_errors_and_the_screenshot_shows_plots(report):
    out, h, _, _ = report
    shot = out / "screenshot.png"
    res = chromium(f"--screenshot={shot}", "--window-size=1280,4000", h.as_uri())
    assert shot.is_file(), res.stderr[-2000:]
    assert console_messages(res.stderr) == []
    import matplotlib.image as mpimg

    img = mpimg.imread(shot)[..., :3]  # floats in [0, 1]
    assert img.shape[:2] == (4000, 1280)
    not_white = np.mean(np.any(img < 0.9, axis=2))
    assert not_white > 0.05  # text, tables and plots, not a blank page
    # the plots' markers and lines in matplotlib's blue (31, 119, 180) are on the page
    blue = np.all(np.abs(img - np.array([31, 119, 180]) / 255) < 0.06, axis=2)
    assert blue.sum() > 800
    # and they sit inside figures down the page, not in one corner
    rows = np.flatnonzero(blue.any(axis=1))
    assert rows.max() - rows.min() > 1500
