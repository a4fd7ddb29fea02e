"""The lab notebook in JupyterLab, driven by Playwright in Debian's Chromium.

Runs notebooks/02_lab.ipynb (its last cell builds a 3-layer network and opens
it in a second lab), then in the page: frames per second of open-ended runs
of the seed network and of 10,000 neurons, Stop (and how long the page waits
for it), a refused value, the presets (STDP: two layers' rasters and the
weight view change while it runs), the Sweep button (a grid fills in; a
click loads a point), and the user-built network's lab.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import time

from conftest import ARTIFACTS, RASTER_PIXELS, REPO

NOTEBOOK = REPO / "notebooks" / "02_lab.ipynb"

# Counts redraws of each raster of the first lab on the page: bqplot's Image
# mark points its <image> at a new blob URL for each frame the kernel sends.
FRAME_SPY = """
() => {
  window.__frames = [];
  new MutationObserver(muts => {
    for (const m of muts) {
      const el = m.target;
      if (el.tagName !== 'image') continue;
      const lab = el.closest('.snnlab-lab');
      if (!lab || lab !== document.querySelectorAll('.snnlab-lab')[0]) continue;
      const fig = el.closest('.snnlab-raster-0, .snnlab-raster-1, .snnlab-weights');
      if (!fig) continue;
      const kind = fig.classList.contains('snnlab-weights') ? 'weights'
                 : fig.classList.contains('snnlab-raster-0') ? 'raster0' : 'raster1';
      window.__frames.push({t: performance.now(), kind: kind});
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['href']});
}
"""

# A checksum of an image mark's pixels (to see an image change).
IMAGE_SUM = """
async (sel) => {
  const el = document.querySelector(sel);
  const img = new Image();
  img.src = el.getAttribute('href');
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let s = 0;
  for (let i = 0; i < d.length; i += 4) s += d[i] * 3 + d[i + 1] * 5 + d[i + 2] * 7 + d[i + 3];
  return s;
}
"""


def lab(page, i=0):
    return page.locator(".snnlab-lab").nth(i)


def status_text(page, i=0) -> str:
    return lab(page, i).locator(".snnlab-status").inner_text()


def sim_time(page, i=0) -> float:
    m = re.search(r"t = ([0-9.e+-]+)", status_text(page, i))
    return float(m.group(1)) if m else 0.0


def wait_for_status(page, pattern: str, timeout: float = 60.0, i=0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = status_text(page, i)
        if re.search(pattern, text):
            return text
        page.wait_for_timeout(50)
    raise AssertionError(f"status never matched {pattern!r}; last: {text!r}")


def open_and_run_notebook(page, jupyterlab, name: str) -> None:
    page.goto(jupyterlab.url(f"lab/tree/{name}"))
    page.locator(".jp-StatusBar-Item", has_text=re.compile(r"\(ipykernel\)\s*\|\s*Idle")).first.wait_for(
        timeout=120_000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
    page.locator(".snnlab-lab").nth(1).locator(".snnlab-run").wait_for(timeout=180_000)  # both labs shown


def open_ended_fps(page, seconds: float) -> tuple:
    """Run until Stop for ``seconds``; return (frames/s seen in the page, Stop's wait in s)."""
    box = lab(page).locator(".snnlab-until-stop input[type=checkbox]")
    if not box.is_checked():
        box.check()
    page.evaluate("window.__frames = []")
    lab(page).locator(".snnlab-run").click()
    wait_for_status(page, r"^\s*running", timeout=120)
    page.wait_for_timeout(1000)  # past the first frames
    page.evaluate("window.__frames = []")
    page.wait_for_timeout(int(seconds * 1000))
    frames = [f for f in page.evaluate("window.__frames") if f["kind"] == "raster0"]
    assert len(frames) >= 5, f"only {len(frames)} frames reached the page in {seconds} s"
    t0 = time.perf_counter()
    lab(page).locator(".snnlab-stop").click()
    wait_for_status(page, r"^\s*stopped", timeout=10)
    stop_wait = time.perf_counter() - t0
    span = (frames[-1]["t"] - frames[0]["t"]) / 1000.0 if len(frames) > 1 else float("nan")
    return (len(frames) - 1) / span, stop_wait


def test_lab_in_jupyterlab(page, jupyterlab, copy_nb, capsys):
    copy_nb(NOTEBOOK, jupyterlab.root, {"TIME_MS": 1000.0})
    open_and_run_notebook(page, jupyterlab, NOTEBOOK.name)
    page.evaluate(FRAME_SPY)

    # 1. The network built in a cell, opened in the second lab: its run (scripted in the cell) shows.
    wait_for_status(page, r"^\s*done", timeout=120, i=1)
    second = lab(page, 1)
    assert second.locator(".snnlab-diagram").count() == 1
    assert page.evaluate(RASTER_PIXELS, "snnlab-lab:nth-of-type(1) .snnlab-raster-0") is not None

    # 2. The seed network, open-ended: frames/s in the page, then Stop.
    seed_fps, seed_stop = open_ended_fps(page, 5.0)
    page.screenshot(path=str(ARTIFACTS / "lab_jupyterlab_seed_open_ended.png"), full_page=True)
    stopped_at = sim_time(page)
    page.wait_for_timeout(500)
    assert sim_time(page) == stopped_at  # nothing runs on after Stop
    assert "stopped at" in lab(page).locator(".snnlab-message").inner_text()

    # 3. A refused value: a message next to the buttons, the box back to the value in use.
    n_box = lab(page).locator(".snnlab-param-n-output input")
    n_box.fill("1e12")
    n_box.press("Enter")
    lab(page).locator(".snnlab-message .snnlab-error").wait_for(timeout=10_000)
    assert "n_output" in lab(page).locator(".snnlab-message").inner_text()
    page.wait_for_timeout(300)
    assert float(n_box.input_value()) == 1000.0

    # 4. 10,000 neurons, open-ended.
    n_box.fill("10000")
    n_box.press("Enter")
    page.wait_for_timeout(500)
    assert lab(page).locator(".snnlab-message .snnlab-error").count() == 0
    big_fps, big_stop = open_ended_fps(page, 6.0)
    page.screenshot(path=str(ARTIFACTS / "lab_jupyterlab_10k_open_ended.png"), full_page=True)

    # 5. Switch to the STDP preset, run it: two layers' rasters and the weight view change.
    lab(page).locator(".snnlab-preset select").select_option("STDP feed-forward")
    lab(page).locator(".snnlab-message", has_text="STDP").wait_for(timeout=30_000)
    page.evaluate("window.__frames = []")
    lab(page).locator(".snnlab-run").click()  # until Stop (the box is still checked)
    wait_for_status(page, r"^\s*running", timeout=120)
    page.wait_for_timeout(1500)
    w1 = page.evaluate(IMAGE_SUM, ".snnlab-lab .snnlab-weights image")
    page.wait_for_timeout(3000)
    w2 = page.evaluate(IMAGE_SUM, ".snnlab-lab .snnlab-weights image")
    page.screenshot(path=str(ARTIFACTS / "lab_jupyterlab_stdp.png"), full_page=True)
    lab(page).locator(".snnlab-stop").click()
    wait_for_status(page, r"^\s*stopped", timeout=10)
    kinds = [f["kind"] for f in page.evaluate("window.__frames")]
    assert kinds.count("raster0") >= 10 and kinds.count("raster1") >= 10, kinds[:50]
    assert kinds.count("weights") >= 3 and w1 != w2  # learning, drawn live

    # 6. The Sweep button: a 2 x 2 grid of the STDP preset fills in on the page; a click on a
    #    cell loads that point into the lab and runs it.
    lab(page).locator(".snnlab-sweep-button").click()
    panel = lab(page).locator(".snnlab-sweep-panel")
    panel.wait_for(timeout=30_000)
    selects = panel.locator("select")
    selects.nth(0).select_option("nu_post")
    selects.nth(1).select_option("wmax")
    numbers = panel.locator("input[type=number]")  # from, to, points (twice), each run, seeds
    for i, value in enumerate(["0.01", "0.05", "2", "1", "2", "2", "200"]):
        numbers.nth(i).fill(value)
        numbers.nth(i).press("Enter")
    page.wait_for_timeout(300)
    panel.locator(".snnlab-sweep-start").click()
    results = lab(page).locator(".snnlab-sweep")
    results.get_by_text("4 of 4 runs").wait_for(timeout=120_000)
    cells = results.locator("rect.heatmapcell")
    assert cells.count() == 4
    page.screenshot(path=str(ARTIFACTS / "lab_jupyterlab_sweep.png"), full_page=True)
    cells.nth(3).click()
    wait_for_status(page, r"^\s*done", timeout=120)
    values = {float(lab(page).locator(".snnlab-param-nu-post input").input_value()),
              float(lab(page).locator(".snnlab-param-wmax input").input_value())}
    assert values <= {0.01, 0.05, 1.0, 2.0} and len(values) == 2, values  # a grid point, loaded

    # Frame rates are measured and reported, not asserted (wall-clock figures
    # depend on the machine's load); the targets: 25 and 15 frames/s.
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "browser-fps-jupyterlab.json").write_text(json.dumps(
        dict(seed_fps=seed_fps, seed_stop_ms=1000 * seed_stop, big_fps=big_fps, big_stop_ms=1000 * big_stop)))
    with capsys.disabled():
        print(f"\nbrowser (JupyterLab): seed open-ended {seed_fps:.1f} frames/s, Stop answered in "
              f"{1000 * seed_stop:.0f} ms; 10,000 neurons {big_fps:.1f} frames/s, Stop in {1000 * big_stop:.0f} ms")
