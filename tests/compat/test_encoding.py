"""BindsNET's encoding API: functions, encoder objects, loaders, module paths.

Written from BindsNET 0.3.4's documented behaviour (docstrings), not its tests.
"""

import math

import pytest
import torch

import snnlab.encoding as enc
from snnlab.encoding import encodings


def test_module_paths_and_names():
    for name in ("single", "repeat", "bernoulli", "poisson", "rank_order"):
        assert getattr(encodings, name) is getattr(enc, name)
    for name in ("bernoulli_loader", "poisson_loader", "rank_order_loader", "Encoder", "NullEncoder",
                 "SingleEncoder", "RepeatEncoder", "BernoulliEncoder", "PoissonEncoder", "RankOrderEncoder"):
        assert hasattr(enc, name)


def test_single_spikes_once_above_the_quantile():
    datum = torch.tensor([[0.1, 0.9], [0.5, 0.7]])
    s = enc.single(datum, time=5, dt=1.0, sparsity=0.5)
    assert s.shape == (5, 2, 2)
    assert s[0].tolist() == [[False, True], [False, True]]  # the top half
    assert not s[1:].any()
    assert enc.single(datum, time=5, sparsity=0.0).sum() == 0


def test_repeat_copies_the_datum_each_step():
    datum = torch.tensor([[1.0, 2.0]])
    r = enc.repeat(datum, time=3, dt=0.5)
    assert r.shape == (6, 1, 2)
    assert torch.equal(r[4], datum)
    r[0, 0, 0] = 9.0
    assert datum[0, 0] == 1.0  # a copy, not a view


def test_rank_order_one_spike_earlier_for_stronger():
    datum = torch.tensor([8.0, 1.0, 4.0, 2.0, 0.0])
    s = enc.rank_order(datum, time=8)
    times = [row.nonzero().view(-1).tolist() for row in s.t()]
    # latency proportional to 1 / intensity, scaled so the weakest (1.0) lands on the last step (silent)
    assert times == [[0], [], [1], [3], []]
    assert s.sum(0).max() <= 1


def test_poisson_and_bernoulli_accept_device_and_return_it():
    s = enc.poisson(torch.full((3,), 100.0), time=10, device="cpu")
    assert s.device.type == "cpu" and s.shape == (10, 3)
    b = enc.bernoulli(torch.full((3,), 0.5), time=10, dt=1.0, device=torch.device("cpu"))
    assert b.device.type == "cpu" and b.shape == (10, 3)


def test_bernoulli_uses_intensities_up_to_one_as_probabilities():
    # BindsNET: divided by the max only when the max exceeds 1.
    g = torch.Generator().manual_seed(1)
    s = enc.bernoulli(torch.tensor([0.25, 0.5]), time=8000, generator=g)
    p = s.float().mean(0)
    for got, want in zip(p.tolist(), [0.25, 0.5]):
        assert abs(got - want) < 6 * math.sqrt(want * (1 - want) / 8000)


def test_bernoulli_without_time_is_one_draw():
    s = enc.bernoulli(torch.tensor([[1.0, 0.0]]))
    assert s.shape == (1, 2) and s.tolist() == [[True, False]]


def test_encoder_objects_call_their_function():
    torch.manual_seed(0)
    datum = torch.full((2, 3), 200.0)
    assert enc.PoissonEncoder(time=20, dt=0.5)(datum).shape == (40, 2, 3)
    assert enc.BernoulliEncoder(time=7, max_prob=0.5)(torch.ones(4)).shape == (7, 4)
    assert enc.RankOrderEncoder(time=6)(torch.arange(4.0)).shape == (6, 4)
    assert enc.SingleEncoder(time=4, sparsity=0.25)(torch.arange(8.0)).sum() == 2  # 6 and 7 lie above the 0.75 quantile (5.25)
    assert torch.equal(enc.RepeatEncoder(time=2)(torch.ones(3)), torch.ones(2, 3))
    x = torch.rand(3)
    assert enc.NullEncoder()(x) is x


def test_loaders_yield_one_train_per_datum():
    data = torch.rand(4, 6) * 50
    trains = list(enc.poisson_loader(data, time=30))
    assert len(trains) == 4 and all(t.shape == (30, 6) for t in trains)
    assert [t.shape for t in enc.bernoulli_loader(data / 50, time=5, max_prob=0.3)] == [(5, 6)] * 4
    assert [t.shape for t in enc.rank_order_loader(data, time=9)] == [(9, 6)] * 4


def test_encoders_leave_the_callers_tensor_alone():
    datum = torch.tensor([3.0, 6.0])
    before = datum.clone()
    enc.bernoulli(datum, time=5)
    enc.rank_order(datum, time=5)
    enc.single(datum, time=5)
    assert torch.equal(datum, before)


@pytest.mark.parametrize("f", [enc.rank_order, enc.bernoulli, enc.poisson])
def test_negative_intensity_is_rejected(f):
    with pytest.raises(ValueError, match="non-negative"):
        f(torch.tensor([1.0, -2.0]), time=4)


def test_single_rejects_bad_sparsity():
    with pytest.raises(ValueError, match="sparsity"):
        enc.single(torch.rand(4), time=3, sparsity=1.5)
