"""Batching of encoded samples: time stays the first dimension."""

from __future__ import annotations

import torch
from torch.utils.data._utils.collate import default_collate

__all__ = ["time_aware_collate", "DataLoader"]


def time_aware_collate(batch):
    """Collate a list of sample dicts; ``encoded_*`` tensors ``[time, ...]``
    are stacked along dimension 1 (``[time, batch, ...]``, what
    ``Network.run`` expects), everything else along dimension 0 as usual.
    """
    if not batch:
        raise ValueError("time_aware_collate: empty batch")
    if isinstance(batch[0], dict):
        out = {}
        for key in batch[0]:
            values = [sample[key] for sample in batch]
            if key.startswith("encoded") and isinstance(values[0], torch.Tensor) and values[0].dim() > 0:
                out[key] = torch.stack(values, dim=1)
            else:
                out[key] = default_collate(values)
        return out
    return default_collate(batch)


class DataLoader(torch.utils.data.DataLoader):
    """``torch.utils.data.DataLoader`` with :func:`time_aware_collate` as its default ``collate_fn``."""

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False, **kwargs) -> None:
        kwargs.setdefault("collate_fn", time_aware_collate)
        super().__init__(dataset, batch_size=batch_size, shuffle=shuffle, **kwargs)
