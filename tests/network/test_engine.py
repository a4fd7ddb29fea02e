"""The engine's structure: back-end control, the run plan, and the house rules
(no import cycles, no function-level imports hiding one, no back-end reading
a private attribute)."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest
import torch

import snnlab
from snnlab.engine import available_backends, make_plan, use_backend
from snnlab.engine.plan import RunOptions
from snnlab.network import Network
from snnlab.network.monitors import Monitor
from snnlab.learning import LearningRule
from snnlab.network.nodes import Input, LIFNodes
from snnlab.network.topology import Connection

ROOT = Path(snnlab.__file__).resolve().parent
CORE = ("dynamics", "engine", "network", "learning", "encoding")


def device_for(backend: str) -> str:
    """Where a back-end runs: the GPU ones on the GPU where there is one
    (without one they are unavailable, or Triton runs interpreted on the CPU)."""
    return "cuda" if backend in ("cuda-graphs", "triton") and torch.cuda.is_available() else "cpu"


def small_net(layer=LIFNodes):
    net = Network()
    net.add_layer(Input(n=4), name="A")
    net.add_layer(layer(n=3), name="B")
    net.add_connection(Connection(net.layers["A"], net.layers["B"], w=torch.full((4, 3), 5.0)), "A", "B")
    net.add_monitor(Monitor(net.layers["B"], ("s", "v")), name="B")
    return net


def test_eager_is_always_available_and_forcing_it_is_recorded():
    assert "eager" in available_backends()
    net = small_net()
    with use_backend("eager"):
        net.run({"A": torch.ones(5, 4)}, time=5)
    assert net.last_backend == "eager"


def test_forcing_an_unknown_or_unavailable_backend_is_an_error():
    with pytest.raises(ValueError, match="unknown back-end 'fast'"):
        with use_backend("fast"):
            pass
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="cuda-graphs.*no CUDA device"):
            with use_backend("cuda-graphs"):
                pass


def _short_window_net():
    net = small_net()
    net.add_monitor(Monitor(net.layers["B"], ("v",), time=5), name="B5")  # a 5-step window
    return net


def _every_other_step_net():
    net = small_net()
    net.add_monitor(Monitor(net.layers["B"], ("v",), every=2), name="B2")
    return net


# A run each compiled back-end cannot take, and the words its refusal must use.
REFUSED = {
    "cpu": (_every_other_step_net, {}, "a monitor records every 2 steps"),
    "graph-emulate": (_short_window_net, {}, "window shorter than 64 steps"),
    "cuda-graphs": (_short_window_net, {}, "window shorter than 64 steps"),
    "triton": (_short_window_net, {}, "window shorter than 64 steps"),
}


@pytest.mark.parametrize("name", [n for n in available_backends() if n != "eager"])
def test_forced_backend_that_cannot_run_the_plan_says_why(name):
    dev = device_for(name)
    make, options, reason = REFUSED[name]
    net = make().to(dev)
    options = {k: {layer: t.to(dev) for layer, t in v.items()} for k, v in options.items()}
    with use_backend(name), pytest.raises(ValueError, match=f"back-end {name!r} cannot run.*{reason}"):
        net.run({"A": torch.ones(5, 4, device=dev)}, time=5, **options)
    assert net.layers["B"].v.eq(-65.0).all()  # nothing was simulated


@pytest.mark.parametrize("name", available_backends())
def test_every_available_backend_matches_eager_on_a_plan_it_accepts(name):
    x = {"A": torch.rand(40, 4, generator=torch.Generator().manual_seed(3)) < 0.5}
    ref = small_net()
    with use_backend("eager"):
        ref.run(x, time=40)
    dev = device_for(name)
    net = small_net().to(dev)
    net.cuda_graphs = "emulate" if name == "graph-emulate" else net.cuda_graphs
    with use_backend(name):
        net.run({k: v.to(dev) for k, v in x.items()}, time=40)
    assert net.last_backend == name
    assert torch.equal(net.monitors["B"].get("s").cpu(), ref.monitors["B"].get("s"))
    assert torch.allclose(net.monitors["B"].get("v").cpu(), ref.monitors["B"].get("v"), atol=1e-5)


def test_the_run_plan_is_immutable():
    net = small_net()
    options = RunOptions(steps=5, batch=1, one_step=False, inputs=("A",), clamp={}, unclamp={}, injects={}, masks={})
    plan = make_plan(net, options)
    assert [lp.name for lp in plan.layers] == ["A", "B"]
    assert plan.layers[1].block_conns and not plan.layers[1].step_conns  # fixed input from an Input layer
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.dt = 0.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.layers[0].name = "Z"
    assert isinstance(plan.layers, tuple) and isinstance(plan.updates, tuple)


class HandWritten(LearningRule):
    """A rule written by hand in ``_update`` (no description): eager only."""

    def _update(self, reward):
        self.connection.add_to_weights(self.nu[0] * self.connection.outer_sum(self.source.s, self.target.s))


def test_automatic_selection_skips_backends_that_cannot_run_a_plan():
    net = small_net()
    net.connections[("A", "B")].update_rule = HandWritten(net.connections[("A", "B")], 0.1)
    net.run({"A": torch.ones(5, 4)}, time=5, reward=1.0)
    assert net.last_backend == "eager"


# --------------------------------------------------------------------------- house rules
def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _core_files():
    for sub in CORE:
        yield from sorted((ROOT / sub).rglob("*.py"))


def _imports(path: Path):
    """(module-level snnlab imports, snnlab imports inside functions) of a file."""
    module = _module_name(path)
    tree = ast.parse(path.read_text())
    in_function = {
        id(inner) for fn in ast.walk(tree) if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef))
        for inner in ast.walk(fn)
    }
    top, inner = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            target = _resolve(module, node, path.name == "__init__.py")
            names = [target + "." + a.name for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        names = [n for n in names if n.startswith("snnlab")]
        if not names:
            continue
        if id(node) not in in_function:
            top.update(names)
        else:
            inner.extend(names)
    return module, top, inner


def test_no_imports_inside_functions_in_the_simulator():
    hidden = {}
    for path in _core_files():
        module, _, inner = _imports(path)
        if inner:
            hidden[module] = inner
    assert not hidden, f"function-level imports (they hide import cycles): {hidden}"


def test_no_import_cycles_in_the_simulator():
    modules = {}
    for path in _core_files():
        module, top, _ = _imports(path)
        modules[module] = top
    known = set(modules)

    def owner(name):
        # "snnlab.dynamics.nodes.LIFNodes" -> the module "snnlab.dynamics.nodes"
        while name and name not in known:
            name = name.rpartition(".")[0]
        return name

    graph = {m: {owner(t) for t in targets if owner(t) and owner(t) != m} for m, targets in modules.items()}
    # A package's submodule imports its package's __init__ implicitly.
    for m in list(graph):
        parent = m.rpartition(".")[0]
        if parent in graph and parent != m:
            graph[m].add(parent)
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in graph.get(m, ()):
            if state.get(n) == "open":
                cycle = stack[stack.index(n):] + [n]
                # inside one package, through its own __init__, is how packages load (not a cycle)
                inside = any(all(c == p or c.startswith(p + ".") for c in cycle) for p in cycle)
                if not inside:
                    pytest.fail("import cycle: " + " -> ".join(cycle))
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in graph:
        if m not in state:
            visit(m)


def test_no_backend_reads_a_private_attribute():
    offenders = []
    for path in sorted((ROOT / "engine" / "backends").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__"):
                owner = node.value
                if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                    continue  # its own attributes
                offenders.append(f"{path.name}:{node.lineno} .{node.attr}")
    assert not offenders, offenders
