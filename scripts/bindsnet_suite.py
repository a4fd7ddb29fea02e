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

# Runs a test file's ``__main__`` block with every call of a test method of a
# class pytest cannot collect (one with __init__) recorded as a check.
MAIN_DRIVER = r"""
import ast, importlib.util, json, sys, traceback
path, out = sys.argv[1], sys.argv[2]
source = open(path).read()
tree = ast.parse(source)
spec = importlib.util.spec_from_file_location("suite_module", path)
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
records = []

def wrap(cls):
    class Recorded(cls):
        pass
    for name in dir(cls):
        if name.startswith("test_"):
            def make(method, name=name):
                def call(self, *args, **kwargs):
                    label = name + "(" + ", ".join(getattr(a, "__name__", repr(a))[:40] for a in args[:1]) + \
                        "".join(", %s=%s" % (k, getattr(v, "__name__", repr(v))[:30]) for k, v in kwargs.items()) + ")"
                    try:
                        method(self, *args, **kwargs)
                        records.append([label, "PASSED", ""])
                    except Exception as ex:
                        records.append([label, "FAILED", type(ex).__name__ + ": " + str(ex)[:200]])
                return call
            setattr(Recorded, name, make(getattr(cls, name)))
    return Recorded

for node in tree.body:
    if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
        if any(isinstance(b, ast.FunctionDef) and b.name == "__init__" for b in node.body):
            setattr(module, node.name, wrap(getattr(module, node.name)))
for node in tree.body:
    if isinstance(node, ast.If) and "__main__" in ast.get_source_segment(source, node.test):
        block = ast.Module(body=node.body, type_ignores=[])
        exec(compile(block, path, "exec"), module.__dict__)
json.dump(records, open(out, "w"))
"""


def uncollected_classes(path: Path) -> bool:
    """Whether the file has a Test class pytest skips (it defines __init__) and a __main__ block."""
    import ast

    tree = ast.parse(path.read_text())
    has_main = any(isinstance(n, ast.If) and "__main__" in ast.unparse(n.test) for n in tree.body)
    return has_main and any(
        isinstance(n, ast.ClassDef) and n.name.startswith("Test")
        and any(isinstance(b, ast.FunctionDef) and b.name == "__init__" for b in n.body)
        for n in tree.body
    )


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
        # Checks pytest does not collect: the __main__ calls of Test classes with an __init__.
        driver = work / "main_driver.py"
        driver.write_text(MAIN_DRIVER)
        for path in sorted(tests.rglob("test_*.py")):
            if not uncollected_classes(path):
                continue
            out = work / (path.stem + ".json")
            run = subprocess.run([sys.executable, str(driver), str(path), str(out)], cwd=path.parent, env=env,
                                 capture_output=True, text=True)
            rel = path.relative_to(work)
            if not out.exists():
                outcomes["ERROR"].append(f"{rel} (__main__): {run.stderr.strip().splitlines()[-1] if run.stderr.strip() else run.returncode}")
                continue
            for label, outcome, message in json.loads(out.read_text()):
                outcomes[outcome].append(f"{rel}::__main__::{label}" + (f" - {message}" if message else ""))
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
