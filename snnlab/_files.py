"""Temporary files for atomic writes (write beside the target, then ``os.replace``)."""

from __future__ import annotations

import os
import tempfile

__all__ = ["mkstemp_beside"]


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # elsewhere: read by setting, then restore at once
    os.umask(mask)
    return mask


def mkstemp_beside(**kwargs) -> tuple:
    """``tempfile.mkstemp(**kwargs)``, but with the mode an ordinary new file gets
    (``0o666 & ~umask``): mkstemp makes it 0600, and ``os.replace`` would carry
    that private mode over to the result file."""
    fd, tmp = tempfile.mkstemp(**kwargs)
    os.chmod(tmp, 0o666 & ~_umask())
    return fd, tmp
