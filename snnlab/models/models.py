"""The networks of ``bindsnet.models`` (module path ``snnlab.models.models``)."""

from __future__ import annotations

import math
from typing import Iterable, Optional, Sequence, Tuple, Union

import torch

from ..learning import LearningRule, PostPre
from ..network import Network
from ..network._checks import check_positive_int, check_real, describe
from ..network.nodes import DiehlAndCookNodes, Input, LIFNodes
from ..network.topology import Connection, LocalConnection

__all__ = [
    "TwoLayerNetwork",
    "DiehlAndCook2015",
    "DiehlAndCook2015v2",
    "IncreasingInhibitionNetwork",
    "LocallyConnectedNetwork",
    "WeightView",
]

Nu = Optional[Union[float, Sequence[float]]]


class WeightView:
    """``connection.pipeline[0].value``: the weights of a connection, as
    BindsNET 0.3.4's models expose them (their connections are
    ``MulticompartmentConnection`` s with one ``Weight`` feature).

    ``value`` is the connection's own weight tensor (not a copy); assigning to
    it assigns the connection's weights.
    """

    name = "weight"

    def __init__(self, connection) -> None:
        self._connection = connection

    @property
    def value(self) -> torch.Tensor:
        return self._connection.w

    @value.setter
    def value(self, w: torch.Tensor) -> None:
        self._connection.w = w

    def __repr__(self) -> str:
        return f"WeightView(shape={tuple(self.value.shape)})"


def _rule(learning_rule) -> type:
    if learning_rule is None:
        return PostPre
    if not (isinstance(learning_rule, type) and issubclass(learning_rule, LearningRule)):
        raise TypeError(f"learning_rule must be a rule class from snnlab.learning, got {describe(learning_rule)}")
    return learning_rule


def _n(name: str, value) -> int:
    return check_positive_int(name, value)


def _inhibition(n_neurons: int, inh: float) -> torch.Tensor:
    """``-inh`` between every pair of different neurons, 0 on the diagonal."""
    return -inh * (torch.ones(n_neurons, n_neurons) - torch.eye(n_neurons))


def _weighted(connection: Connection) -> Connection:
    connection.pipeline = [WeightView(connection)]
    return connection


class TwoLayerNetwork(Network):
    """An ``Input`` layer ``"X"`` connected all-to-all to ``LIFNodes`` ``"Y"``, learning with ``PostPre``.

    Parameters
    ----------
    n_inpt : int
        Input neurons.
    n_neurons : int
        LIF neurons.
    dt : float
        Time step (ms).
    wmin, wmax : float
        Weight bounds.
    nu : float or (float, float)
        Learning rates (pre, post).
    reduction : callable, optional
        Batch reduction of the weight updates.
    norm : float
        Sum of the weights into each LIF neuron after every run.
    """

    def __init__(
        self,
        n_inpt: int,
        n_neurons: int = 100,
        dt: float = 1.0,
        wmin: float = 0.0,
        wmax: float = 1.0,
        nu: Nu = (1e-4, 1e-2),
        reduction=None,
        norm: float = 78.4,
    ) -> None:
        super().__init__(dt=dt)
        self.n_inpt = _n("n_inpt", n_inpt)
        self.n_neurons = _n("n_neurons", n_neurons)
        self.add_layer(Input(n=self.n_inpt, traces=True, tc_trace=20.0), name="X")
        self.add_layer(
            LIFNodes(n=self.n_neurons, traces=True, rest=-65.0, reset=-65.0, thresh=-52.0, refrac=5,
                     tc_decay=100.0, tc_trace=20.0),
            name="Y",
        )
        self.add_connection(
            _weighted(Connection(self.layers["X"], self.layers["Y"], w=0.3 * torch.rand(self.n_inpt, self.n_neurons),
                                 update_rule=PostPre, nu=nu, reduction=reduction, wmin=wmin, wmax=wmax, norm=norm)),
            source="X", target="Y",
        )


class DiehlAndCook2015(Network):
    """The network of Diehl & Cook (2015), "Unsupervised learning of digit
    recognition using spike-timing-dependent plasticity".

    Input ``"X"`` (Poisson spikes) -> excitatory ``DiehlAndCookNodes`` ``"Ae"``
    (all-to-all, plastic, ``PostPre``), each excitatory neuron drives its own
    inhibitory neuron in ``"Ai"`` (weight ``exc``), which inhibits every other
    excitatory neuron (weight ``-inh``): a soft winner-take-all whose
    adaptive thresholds (``theta_plus``) spread the neurons over the inputs.

    Parameters
    ----------
    n_inpt : int
        Input neurons (784 for MNIST).
    device : str or torch.device
        Where the network lives.
    batch_size : int, optional
        Samples simulated in parallel (the inputs' dimension 1 sets it too).
    sparse : bool
        Must be False: snnlab keeps these weights dense (BindsNET's sparse
        option stores them as sparse tensors).
    n_neurons : int
        Excitatory (and inhibitory) neurons.
    exc, inh : float
        Excitatory -> inhibitory weight, inhibitory -> excitatory weight magnitude.
    dt : float
        Time step (ms).
    nu : float or (float, float)
        Learning rates (pre, post) of the input weights.
    reduction : callable, optional
        Batch reduction of the weight updates (sum when None).
    wmin, wmax : float
        Input weight bounds.
    w_dtype : torch.dtype
        Must be ``torch.float32``.
    norm : float
        Sum of input weights into each excitatory neuron, restored after every run.
    theta_plus, tc_theta_decay : float
        Adaptive threshold increment (mV) and time constant (ms).
    inpt_shape : sequence of int, optional
        Shape of the input layer, e.g. ``(1, 28, 28)``.
    inh_thresh, exc_thresh : float
        Thresholds (mV) of the inhibitory and excitatory neurons.
    learning_rule : class, optional
        Rule of the input weights (``snnlab.learning.PostPre`` when None).
    learning_rule_kwargs : dict, optional
        Must be empty (snnlab's rules take only ``nu``, ``reduction``, ``weight_decay``).

    Examples
    --------
    >>> net = DiehlAndCook2015(n_inpt=64, n_neurons=10, inpt_shape=(1, 8, 8))
    >>> sorted(net.layers), sorted(net.connections)
    (['Ae', 'Ai', 'X'], [('Ae', 'Ai'), ('Ai', 'Ae'), ('X', 'Ae')])
    >>> net.connections[("X", "Ae")].pipeline[0].value.shape
    torch.Size([64, 10])
    """

    def __init__(
        self,
        n_inpt: int,
        device: Union[str, torch.device] = "cpu",
        batch_size: Optional[int] = None,
        sparse: bool = False,
        n_neurons: int = 100,
        exc: float = 22.5,
        inh: float = 17.5,
        dt: float = 1.0,
        nu: Nu = (1e-4, 1e-2),
        reduction=None,
        wmin: float = 0.0,
        wmax: float = 1.0,
        w_dtype: torch.dtype = torch.float32,
        norm: float = 78.4,
        theta_plus: float = 0.05,
        tc_theta_decay: float = 1e7,
        inpt_shape: Optional[Iterable[int]] = None,
        inh_thresh: float = -40.0,
        exc_thresh: float = -52.0,
        learning_rule: Optional[type] = None,
        learning_rule_kwargs: Optional[dict] = None,
    ) -> None:
        if sparse:
            raise ValueError("DiehlAndCook2015: sparse=True is not supported; snnlab keeps these weights dense (sparse=False)")
        if w_dtype != torch.float32:
            raise ValueError(f"DiehlAndCook2015: w_dtype must be torch.float32, got {w_dtype}")
        if learning_rule_kwargs:
            raise ValueError(
                f"DiehlAndCook2015: learning_rule_kwargs {sorted(learning_rule_kwargs)} are not supported; "
                "snnlab's rules take only nu, reduction and weight_decay"
            )
        super().__init__(dt=dt, batch_size=1 if batch_size is None else batch_size)
        self.n_inpt = _n("n_inpt", n_inpt)
        self.n_neurons = _n("n_neurons", n_neurons)
        self.exc = check_real("exc", exc, allow_tensor=False)
        self.inh = check_real("inh", inh, allow_tensor=False)
        self.inpt_shape = inpt_shape
        rule = _rule(learning_rule)
        n = self.n_neurons
        self.add_layer(Input(n=self.n_inpt, shape=inpt_shape, traces=True, tc_trace=20.0), name="X")
        self.add_layer(
            DiehlAndCookNodes(n=n, traces=True, rest=-65.0, reset=-60.0, thresh=exc_thresh, refrac=5,
                              tc_decay=100.0, tc_trace=20.0, theta_plus=theta_plus, tc_theta_decay=tc_theta_decay),
            name="Ae",
        )
        self.add_layer(
            LIFNodes(n=n, traces=False, rest=-60.0, reset=-45.0, thresh=inh_thresh, tc_decay=10.0, refrac=2,
                     tc_trace=20.0),
            name="Ai",
        )
        X, Ae, Ai = self.layers["X"], self.layers["Ae"], self.layers["Ai"]
        self.add_connection(
            _weighted(Connection(X, Ae, w=0.3 * torch.rand(self.n_inpt, n), update_rule=rule, nu=nu,
                                 reduction=reduction, wmin=wmin, wmax=wmax, norm=norm)),
            source="X", target="Ae",
        )
        self.add_connection(_weighted(Connection(Ae, Ai, w=self.exc * torch.eye(n), wmin=0.0, wmax=self.exc)),
                            source="Ae", target="Ai")
        self.add_connection(_weighted(Connection(Ai, Ae, w=_inhibition(n, self.inh), wmin=-self.inh, wmax=0.0)),
                            source="Ai", target="Ae")
        self.to(device)


class DiehlAndCook2015v2(Network):
    """Diehl & Cook (2015) without the inhibitory layer: the output layer
    ``"Y"`` inhibits itself directly (weight ``-inh`` between different neurons).

    Parameters as :class:`DiehlAndCook2015`.
    """

    def __init__(
        self,
        n_inpt: int,
        n_neurons: int = 100,
        inh: float = 17.5,
        dt: float = 1.0,
        nu: Nu = (1e-4, 1e-2),
        reduction=None,
        wmin: Optional[float] = 0.0,
        wmax: Optional[float] = 1.0,
        norm: float = 78.4,
        theta_plus: float = 0.05,
        tc_theta_decay: float = 1e7,
        inpt_shape: Optional[Iterable[int]] = None,
        exc_thresh: float = -52.0,
    ) -> None:
        super().__init__(dt=dt)
        self.n_inpt = _n("n_inpt", n_inpt)
        self.n_neurons = _n("n_neurons", n_neurons)
        self.inh = check_real("inh", inh, allow_tensor=False)
        self.inpt_shape = inpt_shape
        n = self.n_neurons
        self.add_layer(Input(n=self.n_inpt, shape=inpt_shape, traces=True, tc_trace=20.0), name="X")
        self.add_layer(
            DiehlAndCookNodes(n=n, traces=True, rest=-65.0, reset=-60.0, thresh=exc_thresh, refrac=5,
                              tc_decay=100.0, tc_trace=20.0, theta_plus=theta_plus, tc_theta_decay=tc_theta_decay),
            name="Y",
        )
        X, Y = self.layers["X"], self.layers["Y"]
        self.add_connection(
            _weighted(Connection(X, Y, w=0.3 * torch.rand(self.n_inpt, n), update_rule=PostPre, nu=nu,
                                 reduction=reduction,
                                 wmin=-math.inf if wmin is None else wmin, wmax=math.inf if wmax is None else wmax,
                                 norm=norm)),
            source="X", target="Y",
        )
        self.add_connection(_weighted(Connection(Y, Y, w=_inhibition(n, self.inh), wmin=-self.inh, wmax=0.0)),
                            source="Y", target="Y")


class IncreasingInhibitionNetwork(Network):
    """The output layer of Hazan et al. (2018): neurons on a square grid
    connected with weights that change with their distance, as BindsNET:
    ``w[i, j] = start_inhib + max_inhib * sqrt(d_ij) / sqrt(d_max)`` (``d``:
    Euclidean distance on the grid). The sign is the caller's: BindsNET's SOM
    example passes ``start_inhib=10, max_inhib=-40`` (inhibition growing with
    distance); the defaults (1, 100) give positive weights, as in BindsNET.
    Unlike BindsNET (``start_inhib`` on the diagonal), no neuron connects to itself.

    Parameters
    ----------
    n_input : int
        Input neurons.
    n_neurons : int
        Output neurons (best a perfect square).
    start_inhib, max_inhib : float
        Inhibition between the nearest pair, and its increase up to the farthest pair.
    (others as :class:`DiehlAndCook2015`)
    """

    def __init__(
        self,
        n_input: int,
        n_neurons: int = 100,
        start_inhib: float = 1.0,
        max_inhib: float = 100.0,
        dt: float = 1.0,
        nu: Nu = (1e-4, 1e-2),
        reduction=None,
        wmin: float = 0.0,
        wmax: float = 1.0,
        norm: float = 78.4,
        theta_plus: float = 0.05,
        tc_theta_decay: float = 1e7,
        inpt_shape: Optional[Iterable[int]] = None,
        exc_thresh: float = -52.0,
    ) -> None:
        super().__init__(dt=dt)
        self.n_input = _n("n_input", n_input)
        self.n_neurons = _n("n_neurons", n_neurons)
        self.n_sqrt = int(math.sqrt(self.n_neurons))
        self.start_inhib = check_real("start_inhib", start_inhib, allow_tensor=False)
        self.max_inhib = check_real("max_inhib", max_inhib, allow_tensor=False)
        self.inpt_shape = inpt_shape
        n = self.n_neurons
        self.add_layer(Input(n=self.n_input, shape=inpt_shape, traces=True, tc_trace=20.0), name="X")
        self.add_layer(
            DiehlAndCookNodes(n=n, traces=True, rest=-65.0, reset=-60.0, thresh=exc_thresh, refrac=5,
                              tc_decay=100.0, tc_trace=20.0, theta_plus=theta_plus, tc_theta_decay=tc_theta_decay),
            name="Y",
        )
        X, Y = self.layers["X"], self.layers["Y"]
        self.add_connection(
            _weighted(Connection(X, Y, w=0.3 * torch.rand(self.n_input, n), update_rule=PostPre, nu=nu,
                                 reduction=reduction, wmin=wmin, wmax=wmax, norm=norm)),
            source="X", target="Y",
        )
        side = max(self.n_sqrt, 1)
        idx = torch.arange(n)
        grid = torch.stack([idx // side, idx % side], dim=1).float()
        distance = torch.cdist(grid, grid).sqrt()  # sqrt of the Euclidean distance on the grid
        w = (distance / distance.max().clamp(min=1e-12) * self.max_inhib + self.start_inhib) * (1.0 - torch.eye(n))
        self.add_connection(_weighted(Connection(Y, Y, w=w)), source="Y", target="Y")


class LocallyConnectedNetwork(Network):
    """Input ``"X"`` locally connected (``LocalConnection``: every output
    position sees one ``kernel_size`` patch, with its own weights per
    filter) to ``DiehlAndCookNodes`` ``"Y"``; neurons of different filters at
    the same position inhibit each other (``-inh``).

    Parameters
    ----------
    n_inpt : int
        Input neurons (``prod(input_shape)``).
    input_shape : (int, int)
        Height and width of the input.
    kernel_size, stride : int or (int, int)
        Patch size and step.
    n_filters : int
        Filters per position.
    inh : float
        Inhibition between filters at one position.
    norm : float, optional
        Sum of the weights into each output neuron, restored after every run.
    (others as :class:`DiehlAndCook2015`)
    """

    def __init__(
        self,
        n_inpt: int,
        input_shape: Sequence[int],
        kernel_size: Union[int, Tuple[int, int]],
        stride: Union[int, Tuple[int, int]],
        n_filters: int,
        inh: float = 25.0,
        dt: float = 1.0,
        nu: Nu = (1e-4, 1e-2),
        reduction=None,
        theta_plus: float = 0.05,
        tc_theta_decay: float = 1e7,
        wmin: float = 0.0,
        wmax: float = 1.0,
        norm: Optional[float] = 0.2,
        exc_thresh: float = -52.0,
    ) -> None:
        from ..utils import _pair

        super().__init__(dt=dt)
        kernel_size, stride = _pair(kernel_size, "kernel_size"), _pair(stride, "stride")
        input_shape = tuple(int(s) for s in input_shape)
        self.n_inpt = _n("n_inpt", n_inpt)
        self.input_shape, self.kernel_size, self.stride = input_shape, kernel_size, stride
        self.n_filters = _n("n_filters", n_filters)
        self.inh = check_real("inh", inh, allow_tensor=False)
        self.theta_plus, self.tc_theta_decay = theta_plus, tc_theta_decay
        self.wmin, self.wmax, self.norm = wmin, wmax, norm
        if kernel_size == input_shape:
            conv_size = (1, 1)
        else:
            conv_size = tuple((input_shape[i] - kernel_size[i]) // stride[i] + 1 for i in range(2))
        self.conv_size = conv_size
        n_out = self.n_filters * conv_size[0] * conv_size[1]
        self.add_layer(Input(n=self.n_inpt, traces=True, tc_trace=20.0), name="X")
        self.add_layer(
            DiehlAndCookNodes(n=n_out, traces=True, rest=-65.0, reset=-60.0, thresh=exc_thresh, refrac=5,
                              tc_decay=100.0, tc_trace=20.0, theta_plus=theta_plus, tc_theta_decay=tc_theta_decay),
            name="Y",
        )
        X, Y = self.layers["X"], self.layers["Y"]
        self.add_connection(
            LocalConnection(X, Y, kernel_size=kernel_size, stride=stride, n_filters=self.n_filters, nu=nu,
                            reduction=reduction, update_rule=PostPre, wmin=wmin, wmax=wmax, norm=norm,
                            input_shape=input_shape),
            source="X", target="Y",
        )
        # Same position, different filter: -inh.
        same_position = torch.eye(conv_size[0] * conv_size[1]).repeat(self.n_filters, self.n_filters)
        different_filter = 1.0 - torch.eye(self.n_filters).repeat_interleave(conv_size[0] * conv_size[1], 0).repeat_interleave(
            conv_size[0] * conv_size[1], 1
        )
        self.add_connection(Connection(Y, Y, w=-self.inh * same_position * different_filter), source="Y", target="Y")
