"""Run BindsNET's own test suite against snnlab, with only the imports renamed.

BindsNET is AGPL-licensed, so its tests are not part of this repository: this
script takes them from a BindsNET checkout outside the repository (or clones
one), copies its ``test/`` folder into a temporary directory, replaces the
package name ``bindsnet`` by ``snnlab`` in import lines only, and runs pytest
there with this repository's snnlab. It prints the tests that pass and fail
and a one-line summary (also as JSON with ``--json``).

Usage::

    .venv/bin/python scripts/bindsnet_suite.py --bindsnet-repo /path/to/bindsnet   # a git checkout
    .venv/bin/python scripts/bindsnet_suite.py                                     # clones github.com/BindsNET/bindsnet

Nothing is written inside the repository.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IMPORT = re.compile(r"^(\s*)(from|import)(\s+)bindsnet(\b)", re.MULTILINE)


def rename_imports(text: str) -> str:
    """``from bindsnet...`` / ``import bindsnet...`` -> snnlab, nothing else."""
    return IMPORT.sub(lambda m: f"{m.group(1)}{m.group(2)}{m.group(3)}snnlab{m.group(4)}", text)


def fetch(repo: str | None, work: Path) -> Path:
    if repo:
        source = Path(repo)
        if not (source / "test").is_dir():
            raise SystemExit(f"{source} has no test/ folder: give a BindsNET checkout")
        return source
    target = work / "bindsnet"
    subprocess.run(["git", "clone", "--depth", "1", "https://github.com/BindsNET/bindsnet", str(target)], check=True)
    return target


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bindsnet-repo", help="a BindsNET checkout (default: clone it)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON too")
    p.add_argument("pytest_args", nargs="*", help="extra pytest arguments (e.g. -k monitors)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="bindsnet_suite_") as tmp:
        work = Path(tmp)
        source = fetch(a.bindsnet_repo, work)
        tests = work / "test"
        shutil.copytree(source / "test", tests)
        for path in tests.rglob("*.py"):
            path.write_text(rename_imports(path.read_text()))
        env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""), MPLBACKEND="Agg")
        report = work / "report.txt"
        cmd = [sys.executable, "-m", "pytest", str(tests), "-q", "-rA", "-p", "no:cacheprovider",
               "--rootdir", str(work), "-o", "addopts=", "--continue-on-collection-errors", *a.pytest_args]
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True)
        report.write_text(proc.stdout + proc.stderr)
        if os.environ.get("BINDSNET_SUITE_LOG"):
            shutil.copy(report, os.environ["BINDSNET_SUITE_LOG"])
        outcomes = {"PASSED": [], "FAILED": [], "ERROR": [], "SKIPPED": []}
        for line in proc.stdout.splitlines():
            word = line.split(" ", 1)[0]
            if word in outcomes:
                outcomes[word].append(line.split(" ", 1)[1].replace(str(tests) + "/", "") if " " in line else line)
        for word in ("FAILED", "ERROR"):
            for name in outcomes[word]:
                print(f"{word:7s} {name}")
        total = sum(len(v) for k, v in outcomes.items() if k != "SKIPPED")
        summary = {k.lower(): len(v) for k, v in outcomes.items()}
        summary["checks"] = total
        print(f"\nBindsNET's tests on snnlab (imports renamed): {summary['passed']} of {total} pass "
              f"({summary['failed']} fail, {summary['error']} errors, {summary['skipped']} skipped)")
        if a.json:
            print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
