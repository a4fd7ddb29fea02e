"""Fixtures for tests that drive JupyterLab (or Voila) in a real Chromium.

Recipe and pitfalls: ``docs/browser-testing.md`` of the shared docs. Generic
pieces, for any browser test of snnlab:

``chromium_path`` (session)
    ``/usr/bin/chromium``; skips the test with the reason if it is missing
    (``scripts/setup.sh --browser`` installs it).
``ServerProcess`` / ``free_port()``
    Start any server command on 127.0.0.1 in its own process group, wait until
    a URL answers, stop it with SIGTERM to the group (its kernels go too).
``jupyter_env(root)``
    Environment with temporary Jupyter runtime/config/workspace folders and a
    user-settings folder that turns off news, update checks and notebook
    windowing (so cells below the fold are drawn). Voila can use it too.
``jupyterlab`` (session)
    A JupyterLab server on 127.0.0.1 serving a temporary folder:
    ``.url(path)``, ``.root`` (copy notebooks there: Lab autosaves).
``browser`` (session) / ``page`` (function)
    Playwright's Chromium (Debian's, with the recipe's flags) and a fresh page
    (1500x1700, tall enough for the whole lab; downloads accepted). Every ``page`` leaves a screenshot
    ``test-artifacts/<test name>.png`` at its end, passed or failed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
#: Chromium flags from the recipe: without the networking ones Chromium keeps
#: calling hosts that this network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts"


def pytest_collection_modifyitems(config, items):
    # Every test in this folder drives a browser.
    for item in items:
        if "tests/browser" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def chromium_path() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"{CHROMIUM} is missing: run scripts/setup.sh --browser to install Debian's Chromium")
    return CHROMIUM


def free_port() -> int:
    """A TCP port free on 127.0.0.1 now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """A server started in its own process group, logging to a file.

    Parameters
    ----------
    cmd : list of str
    env : dict
    cwd : path
    log : path
        stdout and stderr go here (read it when the server fails).
    """

    def __init__(self, cmd, *, env, cwd, log: Path) -> None:
        self.log = Path(log)
        self._log_file = open(self.log, "wb")
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=str(cwd), stdout=self._log_file, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def wait_for(self, url: str, timeout: float = 90.0) -> None:
        """Wait until ``url`` answers (any HTTP status below 500)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}; log:\n{self.log_text()}")
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    if r.status < 500:
                        return
            except urllib.error.HTTPError as ex:
                if ex.code < 500:
                    return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.25)
        raise RuntimeError(f"{url} did not answer in {timeout:g} s; log:\n{self.log_text()}")

    def log_text(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        """SIGTERM to the whole group (kernels included); SIGKILL after 10 s."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGTERM)
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
            except ProcessLookupError:
                pass
        self._log_file.close()


def jupyter_env(root: Path) -> dict:
    """Environment for a Jupyter server with every folder it writes under ``root``."""
    settings = root / "jupyter-settings"
    for plugin, values in {
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        pkg, name = plugin.rsplit("/", 1)
        folder = settings / pkg
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
    env = dict(os.environ)
    env.update(
        JUPYTER_RUNTIME_DIR=str(root / "jupyter-runtime"),
        JUPYTER_CONFIG_DIR=str(root / "jupyter-config"),
        JUPYTERLAB_WORKSPACES_DIR=str(root / "jupyter-workspaces"),
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTER_PLATFORM_DIRS="1",
        PYTHONUNBUFFERED="1",
        # Two cores shared by server, kernel and browser: keep torch from
        # spinning threads against the others.
        OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
    )
    return env


class JupyterLabServer:
    """A running JupyterLab: ``url(path)`` gives an address with the token."""

    def __init__(self, root: Path, port: int, token: str, process: ServerProcess) -> None:
        self.root, self.port, self.token, self.process = root, port, token, process

    def url(self, path: str = "lab") -> str:
        return f"http://127.0.0.1:{self.port}/{path.lstrip('/')}?token={self.token}"


@pytest.fixture(scope="session")
def jupyterlab(tmp_path_factory, chromium_path):
    """A JupyterLab server on 127.0.0.1 serving a temporary folder (``.root``)."""
    base = tmp_path_factory.mktemp("jupyterlab")
    root = base / "notebooks"
    root.mkdir()
    port = free_port()
    token = "snnlab-test"
    cmd = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root}", "--LabApp.news_url=", "--LabApp.check_for_updates_class="
        "jupyterlab.NeverCheckForUpdate", "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")  # CI runs as root
    server = ServerProcess(cmd, env=jupyter_env(base), cwd=root, log=base / "jupyterlab.log")
    try:
        server.wait_for(f"http://127.0.0.1:{port}/api/status?token={token}")
        yield JupyterLabServer(root, port, token, server)
    finally:
        server.stop()


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser, request):
    """A fresh page; a screenshot of it goes to test-artifacts/<test>.png at the end."""
    context = browser.new_context(viewport={"width": 1500, "height": 1700}, accept_downloads=True)
    pg = context.new_page()
    pg.set_default_timeout(60_000)
    try:
        yield pg
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name)
        try:
            pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        except Exception as ex:  # a closed page must not hide the test's own failure
            print(f"screenshot failed: {ex}")
        context.close()


def copy_notebook(src: Path, dest_dir: Path, parameters: dict | None = None) -> Path:
    """Copy a notebook into ``dest_dir``, setting ``NAME = value`` lines of its
    cell tagged ``parameters`` (values written with ``repr``)."""
    nb = json.loads(Path(src).read_text())
    if parameters:
        cells = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
        if not cells:
            raise ValueError(f"{src}: no cell tagged 'parameters'")
        lines = "".join(cells[0]["source"]).splitlines()
        for name, value in parameters.items():
            pattern = re.compile(rf"^{re.escape(name)}\s*=.*$")
            hits = [i for i, line in enumerate(lines) if pattern.match(line)]
            if not hits:
                raise ValueError(f"{src}: parameter {name} not in the parameters cell")
            lines[hits[0]] = f"{name} = {value!r}"
        cells[0]["source"] = "\n".join(lines) + "\n"
    dest = Path(dest_dir) / Path(src).name
    dest.write_text(json.dumps(nb, indent=1))
    return dest


@pytest.fixture
def copy_nb():
    """``copy_nb(src, dest_dir, parameters=None)``: see ``copy_notebook``."""
    return copy_notebook


# Opaque pixels (in all, per column) and the last opaque column of a raster's image.
RASTER_PIXELS = """
async (cls) => {
  const el = document.querySelector('.' + cls + ' image');
  const img = new Image();
  img.src = el.getAttribute('href');
  await img.decode();
  const c = document.createElement('canvas');
  c.width = img.naturalWidth; c.height = img.naturalHeight;
  const ctx = c.getContext('2d');
  ctx.drawImage(img, 0, 0);
  const d = ctx.getImageData(0, 0, c.width, c.height).data;
  let n = 0, lastCol = -1;
  const columns = new Array(c.width).fill(0);
  for (let i = 3; i < d.length; i += 4) {
    if (d[i] > 0) {
      const col = ((i - 3) / 4) % c.width;
      n++; columns[col]++; lastCol = Math.max(lastCol, col);
    }
  }
  return {opaque: n, width: c.width, height: c.height, lastCol: lastCol, columns: columns};
}
"""
