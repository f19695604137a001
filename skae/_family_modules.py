"""PyTorch modules for the variational and convolutional autoencoders.

Like :mod:`skae._modules`, this module imports torch only. Each module has
``encode`` and ``decode`` methods, takes every size as a constructor argument
and draws no random numbers when it is built (weights are initialised later by
:func:`skae._modules.init_weights`).
"""

import math

import torch
from torch import nn

from ._modules import ACTIVATIONS, mlp


def kl_to_standard_normal(mean, log_var):
    """KL divergence from N(mean, diag(exp(log_var))) to N(0, I), per row.

    Parameters
    ----------
    mean : torch.Tensor of shape (n_samples, n_components)
        Posterior means.
    log_var : torch.Tensor of shape (n_samples, n_components)
        Posterior log-variances.

    Returns
    -------
    kl : torch.Tensor of shape (n_samples,)
        ``0.5 * sum(mean**2 + exp(log_var) - 1 - log_var)`` over the latent
        dimensions, in nats.
    """
    return 0.5 * (mean.square() + log_var.exp() - 1.0 - log_var).sum(dim=1)


def variational_loss(output, target, beta):
    """Negative evidence lower bound, per entry of the input.

    Parameters
    ----------
    output : tuple of torch.Tensor
        ``(reconstruction, mean, log_var)`` as returned by
        :meth:`GaussianAutoencoder.forward`.
    target : torch.Tensor of shape (n_samples, n_features)
        The clean batch.
    beta : float
        Weight of the KL term.

    Returns
    -------
    loss : torch.Tensor
        ``mse + beta * kl / n_features``: the mean squared error over all
        entries plus the KL divergence (summed over the latent dimensions,
        averaged over the rows) divided by the number of features, so that
        both terms are measured per input entry.
    """
    reconstruction, mean, log_var = output
    mse = nn.functional.mse_loss(reconstruction, target)
    kl = kl_to_standard_normal(mean, log_var).mean() / target.shape[1]
    return mse + beta * kl


class GaussianAutoencoder(nn.Module):
    """Variational autoencoder with a diagonal Gaussian posterior.

    Parameters
    ----------
    n_features : int
        Width of the input and of the reconstruction.
    hidden_layer_sizes : tuple of int
        Widths of the encoder's hidden layers; the decoder uses them reversed.
    n_components : int
        Dimension of the latent space.
    activation : str
        Key of :data:`skae._modules.ACTIVATIONS`, used after every hidden
        layer. The posterior parameters and the output are linear.

    Attributes
    ----------
    encoder : torch.nn.Sequential
        The shared hidden layers of the encoder (empty without hidden layers).
    mean_head, log_var_head : torch.nn.Linear
        Map the encoder's features to the posterior mean and log-variance.
    decoder : torch.nn.Sequential
        Maps a latent vector back to the input space.
    """

    def __init__(self, n_features, hidden_layer_sizes, n_components, activation):
        super().__init__()
        widths = [n_features, *hidden_layer_sizes]
        self.activation = activation
        self.encoder = mlp(widths, activation, last_activation=True)
        self.mean_head = nn.Linear(widths[-1], n_components)
        self.log_var_head = nn.Linear(widths[-1], n_components)
        self.decoder = mlp([n_components, *widths[::-1]], activation)

    def posterior(self, x):
        """Mean and log-variance of q(z | x)."""
        hidden = self.encoder(x)
        return self.mean_head(hidden), self.log_var_head(hidden)

    def encode(self, x):
        """Posterior mean: the deterministic code."""
        return self.mean_head(self.encoder(x))

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x, eps=None):
        """Reconstruct ``x`` through a latent draw.

        Parameters
        ----------
        x : torch.Tensor of shape (n_samples, n_features)
            A batch in network units.
        eps : torch.Tensor of shape (n_samples, n_components), default=None
            Standard normal noise for the reparameterisation
            ``z = mean + exp(log_var / 2) * eps``. None decodes the posterior
            mean, which makes the pass deterministic. The caller draws
            ``eps``, so the module never touches a random generator.

        Returns
        -------
        reconstruction, mean, log_var : torch.Tensor
            The decoded draw and the posterior's parameters, which the loss
            needs for its KL term.
        """
        mean, log_var = self.posterior(x)
        z = mean if eps is None else mean + torch.exp(0.5 * log_var) * eps
        return self.decoder(z), mean, log_var


def _conv_classes(n_spatial):
    if n_spatial == 1:
        return nn.Conv1d, nn.ConvTranspose1d
    if n_spatial == 2:
        return nn.Conv2d, nn.ConvTranspose2d
    raise ValueError(f"Only 1 or 2 spatial dimensions are supported; got {n_spatial}.")


class ConvolutionalAutoencoder(nn.Module):
    """Convolutional encoder, linear code, mirrored transposed-convolution decoder.

    Every convolution has kernel 3, stride 2 and padding 1, so it halves each
    spatial size, rounding up. The decoder's transposed convolutions choose
    their output padding so that every size is restored exactly: any input
    shape works, down to a single pixel.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, length)`` for signals or ``(channels, height, width)``
        for images.
    channels : tuple of int
        Output channels of each convolution, from the input inwards. The
        decoder mirrors them. Empty for a purely linear autoencoder.
    n_components : int
        Width of the code.
    activation : str
        Key of :data:`skae._modules.ACTIVATIONS`, used after every convolution
        and after the decoder's linear layer. The code and the output are
        linear.

    Attributes
    ----------
    encoder : torch.nn.Sequential
        Convolutions, then a flattening and a linear layer to the code.
    decoder : torch.nn.Sequential
        A linear layer, then transposed convolutions, then a flattening, so
        that it returns flat rows like the input.
    """

    def __init__(self, input_shape, channels, n_components, activation):
        super().__init__()
        in_channels, *spatial = (int(s) for s in input_shape)
        conv, conv_transpose = _conv_classes(len(spatial))
        self.input_shape = (in_channels, *spatial)
        self.activation = activation

        sizes = [tuple(spatial)]
        encoder, width = [], in_channels
        for out_channels in channels:
            encoder += [
                conv(width, out_channels, 3, stride=2, padding=1),
                ACTIVATIONS[activation](),
            ]
            sizes.append(tuple((s + 1) // 2 for s in sizes[-1]))
            width = out_channels
        inner_shape = (width, *sizes[-1])
        flat = math.prod(inner_shape)
        self.encoder = nn.Sequential(
            *encoder, nn.Flatten(), nn.Linear(flat, n_components)
        )

        decoder = [nn.Linear(n_components, flat)]
        if channels:
            decoder.append(ACTIVATIONS[activation]())
        decoder.append(nn.Unflatten(1, inner_shape))
        targets = [*reversed(channels[:-1]), in_channels] if channels else []
        for i, (out_channels, size) in enumerate(zip(targets, reversed(sizes[:-1]))):
            # A stride-2 transposed convolution maps n to 2n - 1 + output_padding;
            # the encoder mapped size to ceil(size / 2), hence the padding.
            padding = tuple(1 - s % 2 for s in size)
            decoder.append(
                conv_transpose(
                    width, out_channels, 3, stride=2, padding=1, output_padding=padding
                )
            )
            if i < len(targets) - 1:
                decoder.append(ACTIVATIONS[activation]())
            width = out_channels
        decoder.append(nn.Flatten())
        self.decoder = nn.Sequential(*decoder)

    def encode(self, x):
        return self.encoder(x.reshape(x.shape[0], *self.input_shape))

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decode(self.encode(x))
