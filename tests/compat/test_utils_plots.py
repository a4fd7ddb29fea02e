"""snnlab.utils layouts and BindsNET's extra plots (checked against hand-made layouts)."""

import pytest
import torch

from snnlab import utils


def test_square_weights_tiles_each_neuron_row_by_row():
    w = torch.arange(2 * 2 * 5, dtype=torch.float32).view(4, 5)  # 5 neurons, 2x2 fields
    sq = utils.get_square_weights(w, n_sqrt=3, side=2)
    assert sq.shape == (6, 6)
    assert torch.equal(sq[2:4, 2:4], w[:, 4].view(2, 2))  # neuron 4 -> tile (1, 1)
    assert torch.equal(sq[0:2, 2:4], w[:, 1].view(2, 2))
    assert sq[4:, :].abs().sum() == 0  # no neurons 6..8
    with pytest.raises(ValueError, match="weights"):
        utils.get_square_weights(w, 3, side=3)


def test_square_assignments_fill_minus_one():
    sq = utils.get_square_assignments(torch.tensor([7, 2, 5, 0, 1]), 3)
    assert sq.tolist() == [[7, 2, 5], [0, 1, -1], [-1, -1, -1]]


def test_conv2d_weights_layout():
    # 4 output channels x 1 input channel of 2x3 kernels: a 2x2 grid of kernels.
    w = torch.randn(4, 1, 2, 3)
    img = utils.reshape_conv2d_weights(w)
    assert img.shape == (4, 6)
    assert torch.equal(img[2:4, 0:3], w[2, 0]) and torch.equal(img[0:2, 3:6], w[1, 0])
    # 1 output, 4 inputs: the per-input grids sit on a 2x2 grid of their own.
    w = torch.randn(1, 4, 2, 2)
    img = utils.reshape_conv2d_weights(w)
    assert torch.equal(img[2:4, 0:2], w[0, 2]) and torch.equal(img[0:2, 2:4], w[0, 1])


def test_local_connection_2d_layout():
    n_filters, c, k = 4, (2, 1), (2, 2)
    w = torch.randn(n_filters, *c, *k)
    img = utils.reshape_local_connection_2d_weights(w, n_filters, k, c, (3, 2))
    # position (1, 0), filter 3 = (f1, f2) = (1, 1): rows (1 * 2 + 1) * 2.., cols (0 * 2 + 1) * 2..
    assert torch.equal(img[6:8, 2:4], w[3, 1, 0])


def test_im2col_round_trip_counts_overlaps():
    x = torch.ones(1, 1, 4, 4)
    cols = utils.im2col_indices(x, 2, 2, stride=2)
    assert cols.shape == (1, 4, 4)
    assert torch.equal(utils.col2im_indices(cols, (4, 4), 2, 2, stride=2), x)


def test_bindsnet_plots_draw_and_redraw():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snnlab.analysis.plotting import plot_assignments, plot_conv2d_weights, plot_input, plot_performance

    axes, ims = plot_input(torch.zeros(8, 8), torch.ones(8, 8), label=2)
    axes2, ims2 = plot_input(torch.ones(8, 8), torch.zeros(8, 8), label=5, axes=axes, ims=ims)
    assert ims2[0] is ims[0] and ims[0].get_array().sum() == 64 and axes[0].get_title().endswith("5)")
    im = plot_assignments(torch.tensor([[1, -1]]))
    assert plot_assignments(torch.tensor([[3, 4]]), im=im).get_array().tolist() == [[3, 4]]
    ax = plot_performance({"all": [10, 20], "proportion": [15, 30]}, x_scale=50)
    assert [l.get_label() for l in ax.lines] == ["all", "proportion"]
    assert ax.lines[1].get_xdata().tolist() == [0, 50]
    assert plot_conv2d_weights(torch.rand(2, 3, 4, 4)).get_array().shape == (16, 16)
    with pytest.raises(ValueError, match="image"):
        plot_input(torch.zeros(2, 3, 4), torch.zeros(3, 4))
    plt.close("all")


def test_assignments_save_numbers_files_like_bindsnet(tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from snnlab.analysis.plotting import plot_assignments

    im, name = plot_assignments(torch.tensor([[0, 1]]), save=tmp_path / "a.png")
    assert name == str(tmp_path / "a.1.png") and (tmp_path / "a.1.png").stat().st_size > 0
    plt.close("all")
