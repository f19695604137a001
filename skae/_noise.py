"""Input corruptions for denoising autoencoders (Vincent et al., 2008).

Each function has the signature ``(x, level, generator, reference) -> x_noisy``.
``x`` is a batch in the network's internal units, ``(X - mean_) / scale_``;
``reference`` says where the input's own landmarks lie in those units, so that
every corruption is defined in the input's units as the user sees them. The
input batch is never modified in place.
"""

from typing import NamedTuple

import torch


class NoiseReference(NamedTuple):
    """Landmarks of the training data, expressed in the network's units.

    Attributes
    ----------
    scale : float
        One input unit in network units (``1 / scale_``).
    zero : torch.Tensor of shape (n_features,)
        Where an input value of 0 lies.
    low, high : torch.Tensor of shape (n_features,)
        Each feature's training minimum and maximum.
    """

    scale: float
    zero: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor


def _draw_mask(x, fraction, generator):
    return torch.rand(x.shape, generator=generator, device=x.device) < fraction


def gaussian(x, level, generator, reference):
    """Add N(0, level**2) noise, measured in input units, to every entry."""
    noise = torch.randn(x.shape, generator=generator, device=x.device, dtype=x.dtype)
    return x + noise * (level * reference.scale)


def masking(x, level, generator, reference):
    """Set a fraction ``level`` of the entries to an input value of 0."""
    mask = _draw_mask(x, level, generator)
    return torch.where(mask, reference.zero.expand_as(x), x)


def salt_and_pepper(x, level, generator, reference):
    """Set a fraction ``level`` of the entries to their feature's minimum or maximum.

    Minimum and maximum are chosen with even odds.
    """
    mask = _draw_mask(x, level, generator)
    salt = torch.rand(x.shape, generator=generator, device=x.device) < 0.5
    extreme = torch.where(salt, reference.high.expand_as(x), reference.low.expand_as(x))
    return torch.where(mask, extreme, x)


NOISES = {
    "gaussian": gaussian,
    "masking": masking,
    "salt_and_pepper": salt_and_pepper,
}
