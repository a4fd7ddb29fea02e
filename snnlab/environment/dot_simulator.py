"""Moving dots on a grid: a small tracking task (BindsNET's ``DotSimulator``).

A "network" dot moves by the actions it is given and should catch a target
dot that wanders in a random direction (changing it with probability
``randr`` each step); optional red herrings wander on their own. Each step
returns the grid (every dot drawn with a fading tail), a reward, whether the
episode is over and whether the target was caught. No dependency beyond
NumPy and torch (matplotlib only to render, pandas only to print tables).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
import torch

__all__ = ["DotSimulator", "Dot", "Discrete"]

# Direction codes: 0 stay, 1 up (row + 1), 2 right, 3 down, 4 left, then the diagonals.
_MOVES = {0: (0, 0), 1: (1, 0), 2: (0, 1), 3: (-1, 0), 4: (0, -1), 5: (1, 1), 6: (-1, 1), 7: (-1, -1), 8: (1, -1)}
_FIT = ("euc", "disp", "rng", "dir")
_BOUNDS = ("stay", "bounce", "trans")


@dataclass
class Discrete:
    """``n`` actions ``0 .. n - 1`` (what pipelines read as ``action_space.n``)."""

    n: int

    def sample(self) -> int:
        return int(np.random.randint(self.n))

    def contains(self, a) -> bool:
        return isinstance(a, (int, np.integer)) and 0 <= int(a) < self.n


@dataclass
class Dot:
    """A dot's position now (``row[0]``, ``col[0]``) and its last ``len(row) - 1`` positions."""

    row: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))
    col: np.ndarray = field(default_factory=lambda: np.zeros(1, dtype=np.int64))

    @classmethod
    def at(cls, r: int, c: int, tail: int) -> "Dot":
        return cls(np.full(tail, r, dtype=np.int64), np.full(tail, c, dtype=np.int64))

    def move(self, r: int, c: int) -> None:
        self.row = np.roll(self.row, 1)
        self.col = np.roll(self.col, 1)
        self.row[0], self.col[0] = r, c


class DotSimulator:
    """A grid world where the network's dot chases a target dot.

    Parameters
    ----------
    t : int
        Steps per episode (``timesteps``).
    height, width : int
        Grid size. Default 28 x 28.
    decay : int
        Length of a dot's fading tail (1: no tail).
    dots : int
        Target dots (they move together; the first one is the one to catch).
    herrs : int
        Distracting dots, each moving at random.
    speed : int
        Cells a dot moves per step.
    randr : float
        Probability per step that the targets pick a new random direction.
    allow_stay : bool
        Whether "stay" (0) is among the random directions.
    diag : bool
        Allow diagonal moves (9 actions instead of 5).
    bound_hand : {"stay", "bounce", "trans"}
        At an edge, stop; reflect (and the targets turn back); or wrap around.
    fit_func : {"euc", "disp", "rng", "dir"}
        Reward: minus the distance; the (row, column) displacement; minus the
        distance in rings of ``ring_size``; or +1/-1 per axis on which the
        network's dot got closer/farther.
    ring_size : int
        Ring width of ``"rng"``.
    bullseye : float
        Reward of a catch (0: no catch reward).
    teleport : bool
        After a catch the network's dot jumps to a random place.
    seed : int
        Seed of the movements (0: from the clock, as BindsNET). Each
        :meth:`reset` restarts the same sequence.
    write, fpath, fname : bool, str, str
        :meth:`render` appends each grid to ``fpath/fname`` (CSV). The folder
        ``fpath`` is created when ``write`` is on or ``fpath`` is given.
    mute : bool
        :meth:`render` draws nothing.
    pandas : bool
        :meth:`render` prints the grid as a table.

    Examples
    --------
    >>> env = DotSimulator(5, height=10, width=10, seed=3, fit_func="dir")
    >>> obs = env.reset()
    >>> obs.shape, env.action_space.n
    ((10, 10), 5)
    >>> obs, reward, done, caught = env.step(2)
    >>> reward.dtype, done
    (torch.float32, False)
    """

    def __init__(self, t: int, **kwargs) -> None:
        known = {"height", "width", "decay", "dots", "herrs", "pandas", "write", "mute", "speed", "randr", "allow_stay",
                 "seed", "fname", "fpath", "diag", "bound_hand", "fit_func", "ring_size", "bullseye", "teleport"}
        unknown = set(kwargs) - known
        if unknown:
            raise TypeError(f"DotSimulator() got unexpected keyword arguments {sorted(unknown)}")
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 1:
            raise ValueError(f"t (steps per episode) must be a positive int, got {t!r}")
        self.timesteps = int(t)
        self.ts = 0
        self.h = int(kwargs.get("height", 28))
        self.w = int(kwargs.get("width", 28))
        self.decay = max(int(kwargs.get("decay", 1)), 1)
        self.ndots = int(kwargs.get("dots", 1))
        if self.ndots < 1:
            raise ValueError(f"dots must be at least 1, got {self.ndots}")
        self.herrs = int(kwargs.get("herrs", 0))
        self.pandas = bool(kwargs.get("pandas", False))
        self.write2F = bool(kwargs.get("write", False))
        self.mute = bool(kwargs.get("mute", False))
        self.speed = int(kwargs.get("speed", 1))
        self.randr = float(kwargs.get("randr", 1.0))
        self.minch = int(not kwargs.get("allow_stay", True))
        self.seed = int(kwargs.get("seed", 0)) or int(time.time() * 1e6) % (2**31)
        self.choices = 9 if kwargs.get("diag", False) else 5
        bound = kwargs.get("bound_hand", "stay")
        if bound not in _BOUNDS:
            raise ValueError(f"bound_hand must be one of {_BOUNDS}, got {bound!r}")
        self.bound_hand = bound
        fit = kwargs.get("fit_func", "euc")
        if fit not in _FIT:
            raise ValueError(f"fit_func must be one of {_FIT}, got {fit!r}")
        self.fit_func = fit
        self.ring_size = int(kwargs.get("ring_size", 2))
        self.bullseye = float(kwargs.get("bullseye", 10.0))
        self.teleport = bool(kwargs.get("teleport", True))
        path = str(kwargs.get("fpath", "out"))
        fname = str(kwargs.get("fname", f"grids_s{self.seed}.csv"))
        self.fileCnt = 0
        stem = fname[:-4] if fname.endswith(".csv") else fname
        self.filename = os.path.join(path, f"{stem}_{self.fileCnt}.csv")
        if self.write2F or "fpath" in kwargs:  # BindsNET makes the folder; scripts write their own files there
            os.makedirs(path, exist_ok=True)
        self.action_space = Discrete(self.choices)
        self.rng = np.random.default_rng(self.seed)
        self.netDot = Dot.at(0, 0, self.decay)
        self.dots: list = []
        self.herrings: list = []
        self.dotDir = 0
        self.obs = np.zeros((self.h, self.w))
        self._fig = None

    # ------------------------------------------------------------ episode
    def _spawn(self) -> Dot:
        r = int(self.rng.integers(self.h // 5, 4 * self.h // 5 + 1))
        c = int(self.rng.integers(self.w // 5, 4 * self.w // 5 + 1))
        return Dot.at(r, c, self.decay)

    def _direction(self) -> int:
        return int(self.rng.integers(self.minch, self.choices))

    def reset(self) -> np.ndarray:
        """Start an episode (the same random sequence every time); returns the grid."""
        self.ts = 0
        self.rng = np.random.default_rng(self.seed)
        self.obs = np.zeros((self.h, self.w))
        self.netDot = self._spawn()
        self.dotDir = self._direction()
        self.dots = [self._spawn() for _ in range(self.ndots)]
        self.herrings = [self._spawn() for _ in range(self.herrs)]
        for d in [self.netDot, *self.dots, *self.herrings]:
            self.obs[d.row[0], d.col[0]] = 1.0
        return self.obs

    def step(self, action):
        """Move the network's dot by ``action``, then the other dots.

        Returns
        -------
        obs : ndarray (height, width)
            The grid: 1 at each dot, ``1 - k / decay`` on its tail k steps back (capped at 1).
        reward : Tensor
            float32; see ``fit_func`` and ``bullseye``.
        done : bool
            The episode's ``t`` steps are over.
        intercept : bool
            The network's dot was on the first target this step.
        """
        if not self.dots:
            raise RuntimeError("DotSimulator.step() before reset()")
        if isinstance(action, torch.Tensor):
            action = int(action.item())
        if action is not None and not (0 <= int(action) < self.choices):
            raise ValueError(f"action must be in [0, {self.choices}), got {action}")
        self.ts += 1
        if self.rng.uniform() <= self.randr:
            self.dotDir = self._direction()
        self.obs = np.zeros((self.h, self.w))
        self.prevRow, self.prevCol = int(self.netDot.row[0]), int(self.netDot.col[0])
        if action is not None:
            self._move(self.netDot, int(action), target=False)
        reward, intercept = self.compute_reward()
        if intercept and self.teleport:
            self.netDot = self._spawn()
            self.obs = np.zeros((self.h, self.w))
            self.obs[self.netDot.row[0], self.netDot.col[0]] = 1.0
        for d in self.dots:
            self._move(d, self.dotDir, target=True)
        for d in self.herrings:
            self._move(d, self._direction(), target=False)
        reward = torch.as_tensor(np.asarray(reward, dtype=np.float32))
        return self.obs, reward, self.timesteps <= self.ts, intercept

    def _move(self, d: Dot, direction: int, target: bool) -> None:
        dr, dc = _MOVES[direction]
        r, c = int(d.row[0]) + dr * self.speed, int(d.col[0]) + dc * self.speed
        if self.bound_hand == "stay":
            r, c = min(max(r, 0), self.h - 1), min(max(c, 0), self.w - 1)
        elif self.bound_hand == "trans":
            r, c = r % self.h, c % self.w
        else:  # bounce: reflect the position; the targets also reverse that component of their direction
            flip_r, flip_c = not 0 <= r < self.h, not 0 <= c < self.w
            if flip_r:
                r = -r - 1 if r < 0 else 2 * self.h - r - 1
            if flip_c:
                c = -c - 1 if c < 0 else 2 * self.w - c - 1
            if target and (flip_r or flip_c):
                mr, mc = _MOVES[self.dotDir]
                mr, mc = (-mr if flip_r else mr), (-mc if flip_c else mc)
                self.dotDir = next(k for k, v in _MOVES.items() if v == (mr, mc))
        d.move(r, c)
        for k in range(self.decay):
            rr, cc = d.row[k], d.col[k]
            self.obs[rr, cc] = min(self.obs[rr, cc] + 1.0 - k / self.decay, 1.0)

    def compute_reward(self):
        """``(reward, intercept)`` for the current positions (see ``fit_func``)."""
        target, me = self.dots[0], self.netDot
        dr, dc = int(target.row[0] - me.row[0]), int(target.col[0] - me.col[0])
        if self.bullseye != 0 and dr == 0 and dc == 0:
            return self.bullseye, True
        if self.fit_func == "euc":
            return -float(np.hypot(dr, dc)), False
        if self.fit_func == "disp":
            return np.array([dr, dc], dtype=np.float32), False
        if self.fit_func == "rng":
            return -float(np.hypot(dr, dc) // self.ring_size), False
        reward = 0.0  # "dir": closer or farther on each axis
        before_r, before_c = abs(int(target.row[0]) - self.prevRow), abs(int(target.col[0]) - self.prevCol)
        reward += float(np.sign(before_r - abs(dr))) + float(np.sign(before_c - abs(dc)))
        return reward, False

    # ------------------------------------------------------------ output
    def render(self) -> None:
        """Write / print / draw the grid (the network's dot drawn at double value)."""
        grid = self.obs.copy()
        grid[self.netDot.row[0], self.netDot.col[0]] *= 2
        if self.write2F:
            os.makedirs(os.path.dirname(self.filename) or ".", exist_ok=True)
            with open(self.filename, "ab") as f:
                np.savetxt(f, grid, delimiter=",")
        if self.pandas:
            print("Timestep:", self.ts)
            try:
                import pandas as pd

                print(pd.DataFrame(grid, dtype="uint32"))
            except ImportError:
                print(grid.astype(np.uint32))
        if not self.mute:
            import matplotlib.pyplot as plt

            if self._fig is None:
                self._fig = plt.figure()
                self._im = self._fig.gca().imshow(grid, cmap="hot", interpolation="nearest", vmin=0, vmax=2)
                self._fig.colorbar(self._im)
            else:
                self._im.set_data(grid)
            plt.pause(1e-8)

    def close(self) -> None:
        if self._fig is not None:
            import matplotlib.pyplot as plt

            plt.close(self._fig)
            self._fig = None

    def cycleOutFiles(self, newInt: int = -1) -> None:
        """Start a new numbered output file (``newInt`` >= 0 sets the number)."""
        self.fileCnt = newInt if newInt >= 0 else self.fileCnt + 1
        head = self.filename[: self.filename.rfind("_") + 1]
        self.filename = f"{head}{self.fileCnt}.csv"

    def addFileSuffix(self, suffix: str) -> None:
        """Insert ``suffix`` before the file number (e.g. ``"train"``)."""
        head, number = self.filename.rsplit("_", 1)
        self.filename = f"{head}{suffix}_{number}"

    def changeFileSuffix(self, sFrom: str, sTo: str) -> None:
        """Replace ``sFrom`` by ``sTo`` in the file name and restart the numbering."""
        self.filename = self.filename.replace(sFrom, sTo)
        self.cycleOutFiles(newInt=0)
