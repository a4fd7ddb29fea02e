"""Read out a spiking layer as a classifier (BindsNET's ``bindsnet.evaluation``).

Spikes are given as ``(n_samples, time, n_neurons)`` tensors (bool or counts).
The assignment-based schemes of Diehl & Cook (2015): every neuron is assigned
the label it fired most for (:func:`assign_labels`); a sample is classified by
the assigned neurons' activity (:func:`all_activity`,
:func:`proportion_weighting`). :func:`ngram` scores spike orders, and
:func:`logreg_fit` / :func:`logreg_predict` fit a logistic regression
(scikit-learn) to spike counts.

None of these functions changes its arguments (BindsNET updates ``rates`` in place).
"""

from __future__ import annotations

from itertools import product
from typing import Dict, Optional, Tuple

import torch

from ..network._checks import describe

__all__ = [
    "assign_labels",
    "all_activity",
    "proportion_weighting",
    "ngram",
    "update_ngram_scores",
    "logreg_fit",
    "logreg_predict",
]


def _spikes(spikes, what: str = "spikes") -> torch.Tensor:
    if not isinstance(spikes, torch.Tensor):
        raise TypeError(f"{what} must be a tensor of shape (n_samples, time, n_neurons), got {describe(spikes)}")
    if spikes.is_sparse:
        spikes = spikes.to_dense()
    if spikes.dim() != 3:
        raise ValueError(f"{what} has shape {tuple(spikes.shape)}, expected 3 dimensions (n_samples, time, n_neurons)")
    return spikes


def _n_labels(n_labels) -> int:
    if isinstance(n_labels, bool) or not isinstance(n_labels, int) or n_labels < 1:
        raise ValueError(f"n_labels must be a positive int, got {n_labels!r}")
    return n_labels


def _labels(labels, n: int, n_labels: int, device) -> torch.Tensor:
    labels = torch.as_tensor(labels, device=device).reshape(-1).long()
    if labels.numel() != n:
        raise ValueError(f"labels has {labels.numel()} entries, expected one per sample ({n})")
    if labels.numel() and (labels.min() < 0 or labels.max() >= n_labels):
        raise ValueError(f"labels must lie in [0, {n_labels}), got values in [{labels.min().item()}, {labels.max().item()}]")
    return labels


def assign_labels(
    spikes: torch.Tensor,
    labels,
    n_labels: int,
    rates: Optional[torch.Tensor] = None,
    alpha: float = 1.0,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Assign each neuron the label for which its mean spike count is highest.

    Parameters
    ----------
    spikes : Tensor
        ``(n_samples, time, n_neurons)`` spikes of one layer.
    labels : Tensor
        ``(n_samples,)`` integer labels in ``[0, n_labels)``.
    n_labels : int
        Number of classes.
    rates : Tensor, optional
        ``(n_neurons, n_labels)`` rates of an earlier call, kept with weight
        ``alpha`` (a running score over batches of samples).
    alpha : float
        Weight of the earlier ``rates``.

    Returns
    -------
    assignments : Tensor
        ``(n_neurons,)`` long: the label of each neuron, ``-1`` for a neuron
        that never fired (so it votes for nothing).
    proportions : Tensor
        ``(n_neurons, n_labels)``: each neuron's rates normalized to sum 1.
    rates : Tensor
        ``(n_neurons, n_labels)``: per label, ``alpha * rates`` + the mean spike
        count over that label's samples. A label with no sample in this call
        keeps its earlier rates, undecayed (as BindsNET).

    Examples
    --------
    >>> s = torch.zeros(2, 3, 2); s[0, :, 0] = 1; s[1, 0, 1] = 1
    >>> a, p, r = assign_labels(s, torch.tensor([1, 0]), n_labels=2)
    >>> a.tolist(), r.tolist()
    ([1, 0], [[0.0, 3.0], [1.0, 0.0]])
    """
    spikes = _spikes(spikes)
    n_labels = _n_labels(n_labels)
    n_samples, _, n_neurons = spikes.shape
    labels = _labels(labels, n_samples, n_labels, spikes.device)
    if rates is None:
        rates = torch.zeros((n_neurons, n_labels), device=spikes.device)
    else:
        if not isinstance(rates, torch.Tensor) or tuple(rates.shape) != (n_neurons, n_labels):
            raise ValueError(f"rates must be a tensor of shape ({n_neurons}, {n_labels}), got {describe(rates)}")
        rates = rates.to(device=spikes.device, dtype=torch.float32).clone()
    counts = spikes.float().sum(1)  # (n_samples, n_neurons)
    per_label = torch.zeros((n_labels, n_neurons), device=spikes.device).index_add_(0, labels, counts)
    n_per_label = torch.bincount(labels, minlength=n_labels).float()
    seen = n_per_label > 0
    rates[:, seen] = alpha * rates[:, seen] + (per_label[seen] / n_per_label[seen, None]).t()
    total = rates.sum(1, keepdim=True)
    proportions = torch.where(total > 0, rates / total.clamp(min=1e-30), torch.zeros_like(rates))
    assignments = torch.argmax(proportions, dim=1)
    assignments[total.view(-1) == 0] = -1
    return assignments, proportions, rates


def _class_scores(spikes, assignments, n_labels, weights=None) -> torch.Tensor:
    spikes = _spikes(spikes)
    n_labels = _n_labels(n_labels)
    assignments = torch.as_tensor(assignments, device=spikes.device).reshape(-1).long()
    if assignments.numel() != spikes.shape[2]:
        raise ValueError(f"assignments has {assignments.numel()} entries, expected one per neuron ({spikes.shape[2]})")
    counts = spikes.float().sum(1)  # (n_samples, n_neurons)
    if weights is not None:
        counts = counts * weights
    assigned = assignments >= 0
    onehot = torch.zeros((spikes.shape[2], n_labels), device=spikes.device)
    onehot[assigned.nonzero().view(-1), assignments[assigned]] = 1.0
    n_assigned = onehot.sum(0)
    scores = counts @ onehot / n_assigned.clamp(min=1.0)
    return scores


def _decide(scores: torch.Tensor) -> torch.Tensor:
    predictions = scores.argmax(1)
    predictions[scores.sum(1) == 0] = -1  # no assigned neuron fired: abstain
    return predictions


def all_activity(spikes: torch.Tensor, assignments: torch.Tensor, n_labels: int) -> torch.Tensor:
    """Classify each sample by the label whose assigned neurons fired most on average.

    Returns
    -------
    Tensor
        ``(n_samples,)`` long predictions; ``-1`` where no assigned neuron fired.

    Examples
    --------
    >>> s = torch.zeros(1, 2, 3); s[0, :, 2] = 1
    >>> all_activity(s, torch.tensor([0, 0, 1]), n_labels=2).tolist()
    [1]
    """
    return _decide(_class_scores(spikes, assignments, n_labels))


def proportion_weighting(
    spikes: torch.Tensor, assignments: torch.Tensor, proportions: torch.Tensor, n_labels: int
) -> torch.Tensor:
    """As :func:`all_activity`, with each neuron's count weighted by its
    proportion for the label it is assigned to.

    Returns
    -------
    Tensor
        ``(n_samples,)`` long predictions; ``-1`` where no assigned neuron fired.
    """
    spikes = _spikes(spikes)
    assignments = torch.as_tensor(assignments, device=spikes.device).reshape(-1).long()
    if not isinstance(proportions, torch.Tensor) or tuple(proportions.shape) != (spikes.shape[2], n_labels):
        raise ValueError(f"proportions must be a tensor of shape ({spikes.shape[2]}, {n_labels}), got {describe(proportions)}")
    own = proportions.to(spikes.device).float().gather(1, assignments.clamp(min=0).view(-1, 1)).view(-1)
    return _decide(_class_scores(spikes, assignments, n_labels, weights=own))


def _firing_steps(activity: torch.Tensor) -> list:
    """The sets of neurons firing at each step that has spikes, in time order."""
    flat = activity.reshape(activity.shape[0], -1)
    return [flat[t].nonzero().view(-1).tolist() for t in flat.any(1).nonzero().view(-1).tolist()]


def _ngrams(activity: torch.Tensor, n: int):
    steps = _firing_steps(activity)
    for window in zip(*(steps[k:] for k in range(n))):
        yield from product(*window)


def update_ngram_scores(
    spikes: torch.Tensor,
    labels,
    n_labels: int,
    n: int,
    ngram_scores: Dict[Tuple[int, ...], torch.Tensor],
) -> Dict[Tuple[int, ...], torch.Tensor]:
    """Count, per label, every n-gram of the samples' spikes.

    An n-gram is a tuple of ``n`` neurons firing at ``n`` consecutive steps
    that have spikes (one neuron from each step; every combination counts).
    The dictionary passed in is updated and returned (as BindsNET).

    Returns
    -------
    dict
        n-gram -> ``(n_labels,)`` counts.
    """
    spikes = _spikes(spikes)
    n_labels = _n_labels(n_labels)
    labels = _labels(labels, spikes.shape[0], n_labels, spikes.device)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    for activity, label in zip(spikes, labels.tolist()):
        for gram in _ngrams(activity, n):
            if gram not in ngram_scores:
                ngram_scores[gram] = torch.zeros(n_labels, device=spikes.device)
            ngram_scores[gram][label] += 1
    return ngram_scores


def ngram(spikes: torch.Tensor, ngram_scores: Dict[Tuple[int, ...], torch.Tensor], n_labels: int, n: int) -> torch.Tensor:
    """Predict each sample's label by summing the scores of its n-grams
    (as counted by :func:`update_ngram_scores`, the same n-grams).

    Returns
    -------
    Tensor
        ``(n_samples,)`` long predictions; ``-1`` where no n-gram of the
        sample was scored.

    Examples
    --------
    >>> s = torch.zeros(2, 4, 3); s[0, 0, 0] = s[0, 1, 1] = 1; s[1, 0, 2] = s[1, 2, 1] = 1
    >>> scores = update_ngram_scores(s, torch.tensor([0, 1]), n_labels=2, n=2, ngram_scores={})
    >>> sorted(scores), ngram(s, scores, n_labels=2, n=2).tolist()
    ([(0, 1), (2, 1)], [0, 1])
    """
    spikes = _spikes(spikes)
    n_labels = _n_labels(n_labels)
    predictions = []
    for activity in spikes:
        score = torch.zeros(n_labels, device=spikes.device)
        for gram in _ngrams(activity, n):
            if gram in ngram_scores:
                score += ngram_scores[gram].to(score.device)
        predictions.append(int(score.argmax()) if score.sum() > 0 else -1)
    return torch.tensor(predictions, dtype=torch.long, device=spikes.device)


def _counts(spikes) -> "object":
    if not isinstance(spikes, torch.Tensor):
        raise TypeError(f"spikes must be a tensor, got {describe(spikes)}")
    if spikes.dim() == 3:  # (n_samples, time, n_neurons): sum over time
        spikes = spikes.float().sum(1)
    if spikes.dim() != 2:
        raise ValueError(f"spikes has shape {tuple(spikes.shape)}, expected (n_samples, n_neurons) counts or (n_samples, time, n_neurons)")
    return spikes.detach().float().cpu().numpy()


def logreg_fit(spikes: torch.Tensor, labels, logreg):
    """(Re)fit a scikit-learn ``LogisticRegression`` to spike counts.

    Parameters
    ----------
    spikes : Tensor
        ``(n_samples, n_neurons)`` counts, or ``(n_samples, time, n_neurons)``
        spikes (summed over time here).
    labels : Tensor
        ``(n_samples,)`` labels.
    logreg : sklearn.linear_model.LogisticRegression
        The model, fitted in place and returned.
    """
    x = _counts(spikes)
    y = torch.as_tensor(labels).reshape(-1).cpu().numpy()
    if len(y) != len(x):
        raise ValueError(f"labels has {len(y)} entries, expected one per sample ({len(x)})")
    logreg.fit(x, y)
    return logreg


def logreg_predict(spikes: torch.Tensor, logreg) -> torch.Tensor:
    """Predict labels from spike counts with a fitted ``LogisticRegression``;
    ``-1`` for every sample while the model is not fitted yet.
    """
    x = _counts(spikes)
    if getattr(logreg, "coef_", None) is None:
        return torch.full((len(x),), -1, dtype=torch.long)
    return torch.as_tensor(logreg.predict(x)).long()
