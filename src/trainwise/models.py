"""The model `trainwise fit` trains on a table: a plain MLP."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn


def mlp(in_features: int, num_classes: int, hidden: Sequence[int] = (64, 32), dropout: float = 0.1) -> nn.Sequential:
    """Linear -> ReLU -> Dropout blocks, then one logit per class."""
    layers: list[nn.Module] = []
    width = in_features
    for size in hidden:
        layers += [nn.Linear(width, size), nn.ReLU()]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = size
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)
