"""A preprocessor that caches its results on disk, keyed by a hash of its input and settings."""

from __future__ import annotations

import hashlib
import os
import pickle
from abc import ABC, abstractmethod

import torch

__all__ = ["AbstractPreprocessor"]


class AbstractPreprocessor(ABC):
    """Subclasses define :meth:`_process`; :meth:`process` caches its output.

    ``process(csvfile, use_cache=True, cachedfile="./processed/data.pt")``:
    when ``use_cache`` and a cache for the same input file contents and
    settings exists in ``cachedfile``, it is loaded instead of recomputed.
    The cache is a ``torch.save`` file of ``(hash, data)`` written atomically.
    """

    def process(self, csvfile: str, use_cache: bool = True, cachedfile: str = "./processed/data.pt"):
        key = self.__gen_hash(csvfile)
        if use_cache and os.path.exists(cachedfile):
            stored_key, data = torch.load(cachedfile, weights_only=False)
            if stored_key == key:
                return data
        data = self._process(csvfile)
        if use_cache:
            folder = os.path.dirname(cachedfile) or "."
            os.makedirs(folder, exist_ok=True)
            tmp = cachedfile + ".tmp"
            torch.save((key, data), tmp)
            os.replace(tmp, cachedfile)
        return data

    @abstractmethod
    def _process(self, filename: str):
        """Turn the file into data (anything ``torch.save`` can store)."""

    def __gen_hash(self, filename: str) -> str:
        digest = hashlib.md5()
        with open(filename, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                digest.update(chunk)
        settings = pickle.dumps(sorted((k, repr(v)) for k, v in self.__dict__.items()))
        digest.update(settings)
        return digest.hexdigest()
