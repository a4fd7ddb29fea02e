"""The lab as an app under Voila, driven by Playwright in Debian's Chromium.

Serves notebooks/02_lab.ipynb with ``voila`` on 127.0.0.1, opens it, clicks
Run, sees the output raster redrawn while the run goes and filled at its end,
then clicks Export and downloads a figure through the page's link. Screenshots
go to test-artifacts/ (voila_lab_run.png, voila_lab_export.png and the page
fixture's own).
"""

from __future__ import annotations

import json
import re
import socket
import sys
import time

import pytest

from conftest import ARTIFACTS, RASTER_PIXELS, REPO, ServerProcess, copy_notebook, free_port, jupyter_env

NOTEBOOK = REPO / "notebooks" / "02_lab.ipynb"

# Count redraws of the first lab's first raster: each frame points its <image> at a new URL.
FRAME_SPY = """
() => {
  window.__voilaFrames = [];
  new MutationObserver(muts => {
    for (const m of muts) {
      const el = m.target;
      if (el.tagName !== 'image') continue;
      const lab = el.closest('.snnlab-lab');
      if (!lab || lab !== document.querySelectorAll('.snnlab-lab')[0]) continue;
      const fig = el.closest('.snnlab-raster-0, .snnlab-weights');
      if (!fig) continue;
      window.__voilaFrames.push({t: performance.now(), kind: fig.classList.contains('snnlab-weights') ? 'weights' : 'raster'});
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['href']});
}
"""


def _wait_for_port(server: ServerProcess, port: int, timeout: float = 90.0) -> None:
    # Not an HTTP GET: in Voila a GET of the page already starts a kernel.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise RuntimeError(f"voila exited with {server.proc.returncode}; log:\n{server.log_text()}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.25)
    raise RuntimeError(f"voila did not open port {port} in {timeout:g} s; log:\n{server.log_text()}")


@pytest.fixture
def voila_lab(tmp_path, chromium_path):
    """Voila serving a copy of the lab notebook (2 s runs); yields its URL."""
    root = tmp_path / "app"
    root.mkdir()
    nb = copy_notebook(NOTEBOOK, root, {"TIME_MS": 2000.0})
    port = free_port()
    cmd = [
        sys.executable, "-m", "voila", str(nb), "--no-browser", f"--port={port}",
        "--Voila.ip=127.0.0.1", "--Voila.port_retries=0", "--show_tracebacks=True",
    ]
    server = ServerProcess(cmd, env=jupyter_env(tmp_path), cwd=root, log=tmp_path / "voila.log")
    try:
        _wait_for_port(server, port)
        yield f"http://127.0.0.1:{port}/", root, server
    finally:
        server.stop()


def _lab(page, i=0):
    return page.locator(".snnlab-lab").nth(i)


def _status(page) -> str:
    return _lab(page).locator(".snnlab-status").inner_text()


def _wait_for_status(page, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = _status(page)
        if re.search(pattern, text):
            return text
        page.wait_for_timeout(100)
    raise AssertionError(f"status never matched {pattern!r}; last: {text!r}")


def test_lab_runs_as_a_voila_app(page, voila_lab, capsys):
    url, root, server = voila_lab
    page.goto(url, timeout=180_000)
    try:
        page.locator(".snnlab-lab").nth(1).locator(".snnlab-run").wait_for(timeout=180_000)  # both labs
    except Exception:
        print(server.log_text())
        raise
    # App mode: no code cells, and no text about running cells (Voila has none).
    assert page.locator(".jp-InputArea-editor, .CodeMirror, .cm-editor").count() == 0
    body = page.locator("body").inner_text()
    assert "Run All" not in body and "code cell" not in body.lower(), body[:2000]
    page.evaluate(FRAME_SPY)

    # Open-ended run of the seed network: frames/s in the page, then Stop.
    _lab(page).locator(".snnlab-until-stop input[type=checkbox]").check()
    _lab(page).locator(".snnlab-run").click()
    _wait_for_status(page, r"^\s*running", timeout=120)
    page.wait_for_timeout(1000)
    page.evaluate("window.__voilaFrames = []")
    page.wait_for_timeout(5000)
    frames = [f for f in page.evaluate("window.__voilaFrames") if f["kind"] == "raster"]
    assert len(frames) >= 5, frames
    fps = (len(frames) - 1) / ((frames[-1]["t"] - frames[0]["t"]) / 1000.0)
    t0 = time.perf_counter()
    _lab(page).locator(".snnlab-stop").click()
    _wait_for_status(page, r"^\s*stopped", timeout=10)
    stop_s = time.perf_counter() - t0
    page.screenshot(path=str(ARTIFACTS / "voila_lab_open_ended.png"), full_page=True)
    assert page.evaluate(RASTER_PIXELS, "snnlab-raster-1")["opaque"] > 0, "the output raster shows no spikes"

    # Export: files written to the export folder, offered as downloads; the links stay in their box.
    _lab(page).locator(".snnlab-export").click()
    links = page.locator("a.snnlab-download")
    links.first.wait_for(timeout=60_000)
    names = sorted(links.all_inner_texts())
    assert "recording.npz" in names and "config.json" in names, names
    with page.expect_download() as info:
        page.locator("a.snnlab-download", has_text="recording.npz").click()
    assert info.value.suggested_filename == "recording.npz"
    box = _lab(page).locator(".snnlab-export").bounding_box()
    assert box["height"] >= 28, box  # the links never squeeze the buttons
    # Save config: a browser download, no server path needed.
    _lab(page).locator(".snnlab-save").click()
    with page.expect_download() as info:
        page.locator("a.snnlab-config-link").click()
    target = root.parent / "lab-config.json"
    info.value.save_as(str(target))
    assert json.loads(target.read_text())["n_output"] == 1000
    # Reset clears the links.
    _lab(page).locator(".snnlab-reset").click()
    page.wait_for_timeout(500)
    assert page.locator("a.snnlab-download").count() == 0

    # The Diehl & Cook preset: receptive fields change while it runs.
    _lab(page).locator(".snnlab-preset select").select_option("Diehl & Cook digits")
    _lab(page).locator(".snnlab-message", has_text="Diehl").wait_for(timeout=60_000)
    page.evaluate("window.__voilaFrames = []")
    _lab(page).locator(".snnlab-run").click()
    _wait_for_status(page, r"^\s*running", timeout=120)
    page.wait_for_timeout(6000)
    page.screenshot(path=str(ARTIFACTS / "voila_lab_diehl_cook.png"), full_page=True)
    _lab(page).locator(".snnlab-stop").click()
    _wait_for_status(page, r"^\s*stopped", timeout=10)
    kinds = [f["kind"] for f in page.evaluate("window.__voilaFrames")]
    assert kinds.count("weights") >= 3, kinds[:40]
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser-fps-voila.json").write_text(json.dumps(dict(seed_fps=fps, seed_stop_ms=1000 * stop_s)))
    with capsys.disabled():
        print(f"\nbrowser (Voila): seed open-ended {fps:.1f} frames/s, Stop answered in {1000 * stop_s:.0f} ms")
