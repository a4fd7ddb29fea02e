"""The results folder of a sweep: one part file per finished run, then one table.

Layout of ``OUT/``::

    sweep.json                  the specification (target, design, seeds, metrics)
    parts/p000012_r001.parquet  one row: point 12, replicate 1 (written as it finishes)
    results.parquet             every row, sorted by point and replicate (rebuilt from parts)

Why this scheme: a part is written to a temporary name in ``parts/`` and
renamed (``os.replace``, atomic on POSIX), so a killed sweep leaves whole
parts or none, never half a row; one file per (point, replicate) means a
run that is repeated (killed after it finished but before it was noticed)
replaces its own file and can never appear twice. ``results.parquet`` is
derived: it is rebuilt from the parts at the end, on Ctrl-C and on resume,
so losing it loses nothing. A resumed sweep skips every (point, replicate)
that has a part; ``sweep.json`` must match, so a folder never mixes two
sweeps.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Mapping

from snnlab._files import mkstemp_beside

__all__ = ["ResultStore", "load_results", "FORMATS"]

FORMATS = ("parquet", "csv")
SPEC_NAME = "sweep.json"
_PART = re.compile(r"^p(\d{6,})_r(\d{3,})\.(parquet|csv)$")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = mkstemp_beside(prefix=f".tmp-{path.name}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _frame_bytes(frame, fmt: str) -> bytes:
    if fmt == "parquet":
        import io

        buf = io.BytesIO()
        frame.to_parquet(buf, index=False, engine="pyarrow")
        return buf.getvalue()
    return frame.to_csv(index=False).encode("utf-8")


def _read(path: Path):
    import pandas as pd

    if path.suffix == ".parquet":
        return pd.read_parquet(path, engine="pyarrow")
    return pd.read_csv(path, keep_default_na=True)


class ResultStore:
    """A sweep's results folder (see the module docstring).

    Parameters
    ----------
    out : str or Path
        The folder (created if missing).
    spec : dict
        JSON-able specification; a folder that holds another one is refused.
    fmt : {"parquet", "csv"}
    """

    def __init__(self, out, spec: Mapping, fmt: str = "parquet") -> None:
        if fmt not in FORMATS:
            raise ValueError(f"results format {fmt!r}; expected one of {', '.join(FORMATS)}")
        self.out = Path(out)
        if self.out.exists() and not self.out.is_dir():
            raise ValueError(f"sweep output {str(self.out)!r} exists and is not a folder")
        self.fmt = fmt
        self.spec = json.loads(json.dumps(spec))  # a JSON round trip, as it is stored
        self.parts = self.out / "parts"
        spec_path = self.out / SPEC_NAME
        if spec_path.exists():
            stored = json.loads(spec_path.read_text())
            if stored != self.spec:
                diff = sorted(k for k in set(stored) | set(self.spec) if stored.get(k) != self.spec.get(k))
                raise ValueError(
                    f"sweep output {str(self.out)!r} holds a different sweep (differs in: {', '.join(diff)}); "
                    "expected the same specification to resume, or a new folder"
                )

    def create(self) -> None:
        """Create the folder and write ``sweep.json`` (once)."""
        self.parts.mkdir(parents=True, exist_ok=True)
        spec_path = self.out / SPEC_NAME
        if not spec_path.exists():
            _atomic_write_bytes(spec_path, (json.dumps(self.spec, indent=2, sort_keys=True) + "\n").encode())

    def part_path(self, point: int, replicate: int) -> Path:
        return self.parts / f"p{point:06d}_r{replicate:03d}.{self.fmt}"

    def done(self) -> set:
        """``{(point, replicate)}`` that have a part file."""
        if not self.parts.is_dir():
            return set()
        found = set()
        for name in os.listdir(self.parts):
            m = _PART.match(name)
            if m:
                found.add((int(m.group(1)), int(m.group(2))))
        return found

    def write_row(self, row: Mapping) -> Path:
        """Write one finished run's row as its part file (atomically)."""
        import pandas as pd

        path = self.part_path(int(row["point"]), int(row["replicate"]))
        _atomic_write_bytes(path, _frame_bytes(pd.DataFrame([dict(row)]), self.fmt))
        return path

    def table(self):
        """Every finished row, sorted by point and replicate (a pandas DataFrame)."""
        import pandas as pd

        files = sorted(p for p in self.parts.glob("p*_r*.*") if _PART.match(p.name)) if self.parts.is_dir() else []
        if not files:
            return pd.DataFrame()
        frames = [_read(p) for p in files]
        frames = [f for f in frames if not f.empty]
        table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
        if not table.empty:
            table = table.sort_values(["point", "replicate"], kind="stable").reset_index(drop=True)
        return table

    @property
    def results_path(self) -> Path:
        return self.out / f"results.{self.fmt}"

    def consolidate(self):
        """Rebuild ``results.<fmt>`` from the parts (atomically); return the table."""
        table = self.table()
        if not table.empty:
            _atomic_write_bytes(self.results_path, _frame_bytes(table, self.fmt))
        return table


def load_results(out):
    """The rows a sweep folder holds (from its parts, so also while it runs).

    Examples
    --------
    >>> load_results("no/such/folder").empty
    True
    """
    out = Path(out)
    spec_path = out / SPEC_NAME
    spec = json.loads(spec_path.read_text()) if spec_path.exists() else {}
    return ResultStore(out, spec, spec.get("format", "parquet")).table()
