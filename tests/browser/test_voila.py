"""The lab as an app under Voila, driven by Playwright in Debian's Chromium.

Serves notebooks/02_lab.ipynb with ``voila`` on 127.0.0.1, opens it, clicks
Run, sees the output raster redrawn while the run goes and filled at its end,
then clicks Export and downloads a figure through the page's link. Screenshots
go to test-artifacts/ (voila_lab_run.png, voila_lab_export.png and the page
fixture's own).
"""

from __future__ import annotations

import re
import socket
import sys
import time

import pytest

from conftest import ARTIFACTS, RASTER_PIXELS, REPO, ServerProcess, copy_notebook, free_port, jupyter_env

NOTEBOOK = REPO / "notebooks" / "02_lab.ipynb"

# Count redraws of the output raster: each frame points its <image> at a new URL.
FRAME_SPY = """
() => {
  window.__voilaFrames = [];
  new MutationObserver(muts => {
    for (const m of muts) {
      if (m.target.tagName === 'image' && m.target.closest('.snnlab-output-raster')) {
        const s = document.querySelector('.snnlab-status');
        window.__voilaFrames.push(s ? s.innerText : '');
      }
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


def _status(page) -> str:
    return page.locator(".snnlab-status").inner_text()


def _wait_for_status(page, pattern: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = _status(page)
        if re.search(pattern, text):
            return text
        page.wait_for_timeout(100)
    raise AssertionError(f"status never matched {pattern!r}; last: {text!r}")


def test_lab_runs_as_a_voila_app(page, voila_lab):
    url, root, server = voila_lab
    page.goto(url, timeout=180_000)
    run = page.locator(".snnlab-lab .snnlab-run")
    try:
        run.wait_for(timeout=180_000)  # Voila executes the notebook before it shows the app
    except Exception:
        print(server.log_text())
        raise
    # App mode: no code cells on the page, only the outputs.
    assert page.locator(".jp-InputArea-editor, .CodeMirror, .cm-editor").count() == 0
    page.locator(".snnlab-output-raster image").wait_for(state="attached")
    page.evaluate(FRAME_SPY)

    run.click()
    done = _wait_for_status(page, r"^\s*done", timeout=120)
    page.screenshot(path=str(ARTIFACTS / "voila_lab_run.png"), full_page=True)
    frames = page.evaluate("window.__voilaFrames")
    assert len(frames) >= 2, f"the raster was redrawn {len(frames)} times: {frames}; status {done!r}"
    assert any(f.strip().startswith("running") for f in frames), f"no frame arrived during the run: {frames}"
    assert page.evaluate(RASTER_PIXELS, "snnlab-output-raster")["opaque"] > 0, "the output raster shows no spikes after the run"

    # Export: files written next to the notebook, and offered as downloads.
    page.locator(".snnlab-export").click()
    links = page.locator("a.snnlab-download")
    links.first.wait_for(timeout=60_000)
    names = sorted(links.all_inner_texts())
    assert "recording.npz" in names and "config.json" in names and "raster.png" in names, names
    written = {p.name for p in root.rglob("*") if p.is_file()}
    assert set(names) <= written, (names, written)
    with page.expect_download() as info:
        page.locator("a.snnlab-download", has_text="raster.png").click()
    download = info.value
    assert download.suggested_filename == "raster.png"
    target = root.parent / "downloaded-raster.png"
    download.save_as(str(target))
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page.screenshot(path=str(ARTIFACTS / "voila_lab_export.png"), full_page=True)
