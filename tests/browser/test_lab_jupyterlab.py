"""The lab notebook in JupyterLab, driven by Playwright in Debian's Chromium.

Runs notebooks/02_lab.ipynb, clicks Run, proves that frames reached the page
while the run went, moves the input-rate slider and sees the input raster
change (between runs, and live during a long run), stops the long run
mid-way, and keeps screenshots in test-artifacts/.
"""

from __future__ import annotations

import re
import time


from conftest import ARTIFACTS, RASTER_PIXELS, REPO

NOTEBOOK = REPO / "notebooks" / "02_lab.ipynb"
TIME_MS = 3000.0  # the first run: long enough for frames, sparse enough for the raster-change check
# The run that is stopped mid-way: long enough that it cannot end before the
# test clicks Stop (the fused engine simulates ~30 s of this network per second).
LONG_MS = 150000  # about 1.6 GiB by the lab's memory estimate (limit 2 GiB)

# Records every redraw of a lab plot: bqplot's Image mark points its <image>
# at a new blob URL for each frame the kernel sends.
FRAME_SPY = """
() => {
  window.__snnlabFrames = [];
  const status = () => {
    const s = document.querySelector('.snnlab-status');
    return s ? s.innerText : '';
  };
  new MutationObserver(muts => {
    for (const m of muts) {
      const el = m.target;
      if (el.tagName !== 'image') continue;
      const fig = el.closest('.snnlab-output-raster, .snnlab-input-raster');
      if (!fig) continue;
      window.__snnlabFrames.push({
        t: performance.now(),
        plot: fig.classList.contains('snnlab-output-raster') ? 'output' : 'input',
        status: status(),
      });
    }
  }).observe(document.body, {subtree: true, attributes: true, attributeFilter: ['href']});
}
"""



# The y pixel coordinates of each voltage trace (the threshold line excluded).
TRACE_YS = """
() => [...document.querySelectorAll('.snnlab-voltage path.line')]
  .filter(p => !p.closest('.legend'))
  .map(p => (p.getAttribute('d') || '').split('L').map(s => s.split(',')[1]))
  .filter(ys => ys.length > 3)
"""


def status_text(page) -> str:
    return page.locator(".snnlab-status").inner_text()


def sim_time(page) -> float:
    m = re.search(r"t = ([0-9.e+-]+) /", status_text(page))
    return float(m.group(1)) if m else 0.0


def wait_for_status(page, pattern: str, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    text = ""
    while time.monotonic() < deadline:
        text = status_text(page)
        if re.search(pattern, text):
            return text
        page.wait_for_timeout(50)
    raise AssertionError(f"status never matched {pattern!r}; last: {text!r}")


def open_and_run_notebook(page, jupyterlab, name: str) -> None:
    page.goto(jupyterlab.url(f"lab/tree/{name}"))
    # Run All before the kernel exists does nothing: wait for the kernel.
    page.locator(".jp-StatusBar-Item", has_text=re.compile(r"\(ipykernel\)\s*\|\s*Idle")).first.wait_for(
        timeout=120_000)
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(r"^Run$")).click()
    page.locator(".lm-Menu-item", has_text="Run All Cells").first.click()
    page.locator(".snnlab-lab .snnlab-run").wait_for(timeout=120_000)
    page.locator(".snnlab-output-raster image").wait_for(state="attached")


def test_lab_notebook_streams_in_jupyterlab(page, jupyterlab, copy_nb, capsys):
    copy_nb(NOTEBOOK, jupyterlab.root, {"TIME_MS": TIME_MS})
    open_and_run_notebook(page, jupyterlab, NOTEBOOK.name)
    page.evaluate(FRAME_SPY)

    # 1. Run: frames reach the page while the run goes, not only the last one.
    page.locator(".snnlab-run").click()
    done_text = wait_for_status(page, r"^\s*done . run 1 ", timeout=120)
    page.screenshot(path=str(ARTIFACTS / "lab_jupyterlab_run.png"), full_page=True)
    frames = page.evaluate("window.__snnlabFrames")
    out = [f for f in frames if f["plot"] == "output"]
    during = [f for f in out if f["status"].strip().startswith("running")]
    sim_times = {re.search(r"t = ([0-9.e+-]+) /", f["status"]).group(1) for f in during}
    assert len(during) >= 3, f"only {len(during)} frames arrived during the run: {frames}"
    assert len(sim_times) >= 3, f"frames during the run did not advance: {sim_times}"
    span_s = (out[-1]["t"] - out[0]["t"]) / 1000.0
    fps = (len(out) - 1) / span_s if span_s > 0 else float("nan")
    # the voltage traces move (a flat line would mean a broken y scale)
    trace_ys = page.evaluate(TRACE_YS)
    assert len(trace_ys) == 5 and all(len(set(ys)) > 10 for ys in trace_ys), trace_ys
    before = page.evaluate(RASTER_PIXELS, "snnlab-input-raster")
    assert before["opaque"] > 0 and before["lastCol"] == before["width"] - 1  # raster reaches the end

    # 2. Move the input-rate slider (100 -> 400 Hz) and see the input raster change.
    handle = page.locator(".snnlab-input-rate .noUi-handle")
    handle.focus()
    for _ in range(30):
        handle.press("ArrowRight")
    page.locator(".snnlab-input-rate .widget-readout", has_text="400").wait_for()
    page.wait_for_timeout(300)  # let the value reach the kernel
    page.locator(".snnlab-run").click()
    wait_for_status(page, r"^\s*done . run 2 ", timeout=120)
    after = page.evaluate(RASTER_PIXELS, "snnlab-input-raster")
    # 100 -> 400 Hz: pixels of 3 steps x 1 input go from 27% to 78% with a spike
    assert after["opaque"] > 2 * before["opaque"], (before, after)

    # 3. A long run, stopped mid-way: the run ends there and the data stays.
    time_box = page.locator(".snnlab-time input")
    time_box.fill(str(LONG_MS))
    time_box.press("Enter")
    page.wait_for_timeout(300)
    assert page.locator(".snnlab-message .snnlab-error").count() == 0, page.locator(".snnlab-message").inner_text()
    page.evaluate("window.__snnlabFrames = []")
    page.locator(".snnlab-run").click()
    wait_for_status(page, r"running . run 3 ", timeout=60)
    deadline = time.monotonic() + 60
    while sim_time(page) < 500 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    # ... and mid-run, the input-rate slider to 0 Hz: live, from the next chunk on.
    before_change = sim_time(page)
    handle.focus()
    handle.press("Home")  # noUiSlider: straight to the minimum, one change
    page.locator(".snnlab-input-rate .widget-readout", has_text=re.compile(r"^\s*0\s*$")).wait_for()
    page.locator(".snnlab-message", has_text="input_rate = 0: applied").wait_for(timeout=10_000)
    changed_near = sim_time(page)  # the kernel has the new rate: at most a chunk to go
    deadline = time.monotonic() + 60
    while sim_time(page) < changed_near + 3000 and time.monotonic() < deadline:
        page.wait_for_timeout(50)
    page.screenshot(path=str(ARTIFACTS / "lab_jupyterlab_long_run.png"), full_page=True)
    page.locator(".snnlab-stop").click()
    text = wait_for_status(page, r"^\s*stopped", timeout=10)
    stopped_at = sim_time(page)
    assert 500 <= stopped_at < LONG_MS and f"/ {LONG_MS} ms" in text, text
    assert "stopped at" in page.locator(".snnlab-message").inner_text()
    partial = page.evaluate(RASTER_PIXELS, "snnlab-output-raster")
    assert 0 <= partial["lastCol"] < partial["width"] // 2, partial
    # The input raster (LONG_MS / width a column) has spikes before the slider moved and none
    # soon after the kernel had the new value (a chunk, and the status's lag).
    cols = page.evaluate(RASTER_PIXELS, "snnlab-input-raster")["columns"]
    ms_per_col = LONG_MS / len(cols)
    early = cols[: int(before_change / ms_per_col)]
    late = cols[int((changed_near + 500) / ms_per_col): int(stopped_at / ms_per_col) - 1]
    assert early and min(early) > 0, early
    assert late and max(late) == 0, (changed_near, stopped_at, late)
    assert page.locator(".snnlab-run").is_enabled()
    page.wait_for_timeout(500)
    assert sim_time(page) == stopped_at  # nothing runs on after Stop

    wall = float(re.search(r"wall ([0-9.]+) s", done_text).group(1))
    drawn = int(re.search(r"(\d+) frames drawn", done_text).group(1))
    with capsys.disabled():
        print(f"\nbrowser: run of {TIME_MS:g} ms took {wall:.2f} s in the kernel, {drawn} frames drawn there "
              f"({drawn / wall:.1f}/s); {len(out)} output-raster frames seen in the page, {len(during)} "
              f"during the run: {fps:.1f} frames/s seen; stopped at {stopped_at:g} ms")
