"""How a planned run executes.

* :mod:`snnlab.engine.validate`: every check of a run's arguments;
* :mod:`snnlab.engine.plan`: the immutable :class:`RunPlan` of each chunk;
* :mod:`snnlab.engine.backends`: the back-ends that simulate blocks of steps
  ("eager" torch, the compiled "cpu" loop, "cuda-graphs" and "triton" on a GPU);
* :mod:`snnlab.engine.run`: chunks, blocks, the choice of back-end.

Public control of the back-ends (for tests and benchmarks):
:func:`available_backends`, :func:`use_backend` and ``network.last_backend``.
"""

from .plan import LayerPlan, RunOptions, RunPlan, Update, make_plan
from .run import Chunk, available_backends, choose_backend, run_chunks, use_backend

__all__ = [
    "available_backends",
    "use_backend",
    "choose_backend",
    "run_chunks",
    "Chunk",
    "RunPlan",
    "RunOptions",
    "LayerPlan",
    "Update",
    "make_plan",
]
