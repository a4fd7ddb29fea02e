"""BindsNET's evaluation functions, from their documented behaviour."""

import pytest
import torch

from snnlab.evaluation import (
    all_activity,
    assign_labels,
    logreg_fit,
    logreg_predict,
    ngram,
    proportion_weighting,
    update_ngram_scores,
)


def _spikes():
    # 4 samples, 5 steps, 3 neurons: neuron 0 fires for label 0, neuron 1 for label 1, neuron 2 never.
    s = torch.zeros(4, 5, 3, dtype=torch.bool)
    s[0, :3, 0] = True
    s[1, :2, 0] = True
    s[2, :4, 1] = True
    s[3, :1, 1] = True
    s[3, 4, 0] = True
    return s, torch.tensor([0, 0, 1, 1])


def test_assign_labels_rates_proportions_and_silent_neurons():
    s, labels = _spikes()
    a, p, r = assign_labels(s, labels, n_labels=2)
    assert a.tolist() == [0, 1, -1]
    assert torch.allclose(r, torch.tensor([[2.5, 0.5], [0.0, 2.5], [0.0, 0.0]]))
    assert torch.allclose(p[0], torch.tensor([2.5 / 3, 0.5 / 3]))
    assert p[2].tolist() == [0.0, 0.0]


def test_assign_labels_running_rates_do_not_modify_the_argument():
    s, labels = _spikes()
    old = torch.tensor([[0.0, 10.0], [0.0, 0.0], [0.0, 0.0]])
    kept = old.clone()
    a, _, r = assign_labels(s, labels, n_labels=2, rates=old, alpha=0.5)
    assert torch.equal(old, kept)
    assert torch.allclose(r[0], torch.tensor([2.5, 5.5]))
    assert a[0] == 1


def test_all_activity_and_proportion_weighting():
    s, labels = _spikes()
    a, p, _ = assign_labels(s, labels, n_labels=2)
    assert all_activity(s, a, n_labels=2).tolist() == [0, 0, 1, 0]
    # sample 3: neuron 0 once (weight 2.5/3), neuron 1 once (weight 1.0)
    assert proportion_weighting(s, a, p, n_labels=2).tolist() == [0, 0, 1, 1]


def test_no_activity_abstains():
    s = torch.zeros(2, 4, 3)
    assert all_activity(s, torch.tensor([0, 1, 1]), n_labels=2).tolist() == [-1, -1]


def test_ngram_scores_and_prediction():
    s = torch.zeros(2, 6, 3)
    s[0, 0, 0] = s[0, 2, 1] = s[0, 3, 2] = 1  # grams (0,1), (1,2)
    s[1, 1, 2] = s[1, 4, 1] = 1  # gram (2,1)
    scores = update_ngram_scores(s, torch.tensor([1, 0]), n_labels=2, n=2, ngram_scores={})
    assert set(scores) == {(0, 1), (1, 2), (2, 1)}
    assert scores[(0, 1)].tolist() == [0.0, 1.0]
    assert ngram(s, scores, n_labels=2, n=2).tolist() == [1, 0]
    assert ngram(torch.zeros(1, 3, 3), scores, n_labels=2, n=2).tolist() == [-1]


def test_logistic_regression_on_counts():
    pytest.importorskip("sklearn")
    from sklearn.linear_model import LogisticRegression

    s, labels = _spikes()
    model = LogisticRegression()
    assert logreg_predict(s, model).tolist() == [-1, -1, -1, -1]  # not fitted yet
    logreg_fit(s, labels, model)
    assert logreg_predict(s, model).tolist() == labels.tolist()


def test_bad_shapes_are_named():
    with pytest.raises(ValueError, match="spikes"):
        assign_labels(torch.zeros(3, 4), torch.zeros(3), n_labels=2)
    with pytest.raises(ValueError, match="labels"):
        assign_labels(torch.zeros(3, 4, 2), torch.zeros(2), n_labels=2)
    with pytest.raises(ValueError, match="assignments"):
        all_activity(torch.zeros(3, 4, 2), torch.zeros(5), n_labels=2)
