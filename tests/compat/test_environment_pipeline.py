"""environment (DotSimulator, GymEnvironment), pipeline and its action choices, analyzers."""

import numpy as np
import pytest
import torch

from snnlab.encoding import bernoulli
from snnlab.environment.dot_simulator import DotSimulator
from snnlab.network import Network
from snnlab.network.nodes import Input, LIFNodes
from snnlab.network.topology import Connection
from snnlab.pipeline import EnvironmentPipeline
from snnlab.pipeline.action import select_highest, select_multinomial, select_random, select_softmax


def test_dot_simulator_episode_and_rewards():
    env = DotSimulator(6, height=12, width=12, seed=5, fit_func="euc", bound_hand="bounce", decay=3)
    obs = env.reset()
    assert obs.shape == (12, 12) and obs.max() == 1.0
    total = 0
    for t in range(6):
        obs, reward, done, caught = env.step(0)
        target, me = env.dots[0], env.netDot
        if not caught:
            assert reward.item() == pytest.approx(-np.hypot(target.row[0] - me.row[0] - 0, target.col[0] - me.col[0]), abs=1.5)
        total += 1
        assert done == (t == 5)
    # the same seed replays the same episode
    first = [env.reset().copy(), *[env.step(1)[0].copy() for _ in range(3)]]
    again = [env.reset().copy(), *[env.step(1)[0].copy() for _ in range(3)]]
    assert all(np.array_equal(a, b) for a, b in zip(first, again))


def test_dot_simulator_tail_fades_and_catch_pays():
    env = DotSimulator(50, height=9, width=9, seed=1, decay=3, randr=0.0, allow_stay=False, bound_hand="trans")
    env.reset()
    for _ in range(3):
        obs, *_ = env.step(0)
    d = env.dots[0]
    assert obs[d.row[0], d.col[0]] == 1.0
    assert obs[d.row[1], d.col[1]] == pytest.approx(1 - 1 / 3)
    assert obs[d.row[2], d.col[2]] == pytest.approx(1 - 2 / 3)
    env.netDot.row[0], env.netDot.col[0] = d.row[0], d.col[0]
    reward, caught = env.compute_reward()
    assert caught and reward == 10.0
    with pytest.raises(ValueError, match="action"):
        env.step(7)
    with pytest.raises(ValueError, match="fit_func"):
        DotSimulator(5, fit_func="nope")


def test_dot_simulator_direction_reward():
    env = DotSimulator(10, height=20, width=20, seed=2, fit_func="dir", randr=0.0, bullseye=0.0)
    env.reset()
    env.dots[0].row[:], env.dots[0].col[:] = 15, 10
    env.netDot.row[:], env.netDot.col[:] = 5, 10
    env.dotDir = 0
    env.minch = 0
    _, reward, _, _ = env.step(1)  # up: row + 1, towards the target
    assert reward.item() == 1.0
    _, reward, _, _ = env.step(3)  # down: away
    assert reward.item() == -1.0


def _network(shape, n_out):
    n_in = int(np.prod(shape))
    net = Network(dt=1.0)
    net.add_layer(Input(shape=shape), name="X")
    net.add_layer(LIFNodes(n=n_out, thresh=-64.0), name="Y")
    net.add_connection(Connection(net.layers["X"], net.layers["Y"], w=torch.full((n_in, n_out), 2.0)), source="X", target="Y")
    return net


def test_environment_pipeline_with_dots():
    env = DotSimulator(4, height=6, width=6, seed=3, mute=True)
    net = _network((6, 6), env.action_space.n)
    pipe = EnvironmentPipeline(net, env, action_function=select_softmax, encoding=bernoulli, output="Y", time=5,
                               num_episodes=2, plot_config={"data_step": None})
    pipe.train()
    assert pipe.episode == 2 and len(pipe.reward_list) == 2
    assert pipe.spike_record["Y"].shape == (5, 1, 5)
    assert 0 <= select_highest(pipe, output="Y") < 5 and 0 <= select_random(pipe) < 5
    assert 0 <= select_multinomial(pipe, output="Y") < 5
    with pytest.raises(KeyError, match="output"):
        select_softmax(pipe)


def test_gym_environment_cartpole():
    pytest.importorskip("gymnasium")
    from snnlab.environment import GymEnvironment

    env = GymEnvironment("CartPole-v1", render_mode=None, encoder=lambda o: o.abs().repeat(5, 1), clip_rewards=True, seed=0)
    obs = env.reset()
    assert obs.shape == (4,) and obs.dtype == torch.float32
    obs, reward, done, info = env.step(torch.tensor(1))
    assert obs.shape == (1, 5, 4) and reward == 1.0 and "gym_obs" in info
    env.close()
    with pytest.raises(TypeError, match="unexpected"):
        GymEnvironment("CartPole-v1", render_mode=None, clip_reward=True)


def test_matplotlib_analyzer_draws_and_redraws():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snnlab.analysis.pipeline_analysis import MatplotlibAnalyzer

    ma = MatplotlibAnalyzer()
    for _ in range(2):
        ma.plot_obs(torch.rand(1, 28, 28))
        ma.plot_conv2d_weights(torch.rand(4, 1, 8, 8))
        ma.plot_reward([0, 1, 3], reward_window=2)
        ma.plot_voltages({"X": torch.rand(50, 1, 1, 28, 28)}, {"X": torch.tensor(0.75)})
        ma.plot_spikes({"X": torch.rand(50, 1, 1, 28, 28) > 0.5})
        ma.finalize_step()
    assert set(ma.plots) == {"obs", "conv2d", "reward", "voltage", "spike"}
    assert list(ma.plots["reward"][2].get_ydata()) == [0.0, 0.5, 2.0]  # moving average over 2 episodes
    plt.close("all")
    plt.ioff()


def test_preprocess_helpers():
    from snnlab.datasets.preprocess import binary_image, crop, gray_scale, subsample

    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[..., 0] = 100
    g = gray_scale(rgb)
    assert g.shape == (4, 6) and g[0, 0] == 30  # 0.299 * 100
    assert crop(rgb, 1, 3, 2, 5).shape == (2, 3, 3)
    assert binary_image(np.array([[0, 5], [2, 0]], dtype=np.uint8)).tolist() == [[0, 1], [1, 0]]
    assert subsample(np.ones((8, 8), dtype=np.float32), 4, 2).shape == (2, 4)
