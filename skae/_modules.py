"""PyTorch networks behind the estimators.

This module imports torch only. Every size is a constructor argument, layers
are ``nn.Sequential`` stacks, and every network has separate ``encode`` and
``decode`` methods. The one contract the training engine relies on:
``forward(x)`` returns ``(reconstruction, code, *extras)``.

The deterministic networks are *PCA-anchored*: a linear encoder and decoder
that start as PCA's projection, plus a nonlinear branch on each side whose
last layer starts at zero. Before the first step the network is exactly
PCA; training then only has to learn what PCA misses.
"""

import math

import torch
from torch import nn

ACTIVATIONS = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "logistic": nn.Sigmoid,
}

# Inputs in network units are clipped to this many training standard
# deviations, so that absurd (but finite) input gives finite output in
# float32 instead of overflowing inside the network.
NETWORK_UNIT_LIMIT = 1e15

_RELU_FAMILY = ("relu", "leaky_relu", "elu", "gelu")

# Gain of the initial weights that feed each activation.
_INIT_GAIN = {
    "identity": 1.0,
    "relu": math.sqrt(2.0),
    "leaky_relu": math.sqrt(2.0),
    "elu": math.sqrt(2.0),
    "gelu": math.sqrt(2.0),
    "tanh": 5.0 / 3.0,
    "logistic": 1.0,
}


def mlp(sizes, activation, *, last_activation=False):
    """Stack ``Linear`` layers of the given widths with an activation between them.

    Parameters
    ----------
    sizes : sequence of int
        Widths, input first. ``len(sizes) - 1`` linear layers are built.
    activation : str
        Key of :data:`ACTIVATIONS`.
    last_activation : bool, default=False
        Whether the last linear layer is followed by the activation too.

    Returns
    -------
    stack : torch.nn.Sequential
    """
    layers = []
    n_layers = len(sizes) - 1
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(n_in, n_out))
        if i < n_layers - 1 or last_activation:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


def _last_layer(stack):
    layers = [m for m in stack.modules() if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd))]
    return layers[-1]


class LinearPlusBranch(nn.Module):
    """``linear(x) + branch(x)``: one half of an anchored autoencoder.

    Parameters
    ----------
    linear : torch.nn.Linear
    branch : torch.nn.Module or None
        A nonlinear map with the same input and output widths; None leaves
        the half linear.
    """

    def __init__(self, linear, branch):
        super().__init__()
        self.linear = linear
        self.branch = branch

    def forward(self, x):
        out = self.linear(x)
        if self.branch is not None:
            out = out + self.branch(x)
        return out


class AnchoredAutoencoder(nn.Module):
    """A linear autoencoder plus a nonlinear residual branch on each side.

    ``encode(x) = W x + b + g(x)`` and ``decode(z) = V z + c + h(z)``.
    :meth:`anchor` sets the linear maps to PCA's projection and zeroes the
    last layer of each branch, which makes the network PCA exactly.

    Parameters
    ----------
    n_features : int
        Width of the input and of the reconstruction.
    n_components : int
        Width of the code.
    encoder_branch, decoder_branch : torch.nn.Module or None
        Nonlinear maps from the input to the code and from the code to the
        input. None leaves that side linear.

    Attributes
    ----------
    encoder, decoder : LinearPlusBranch
    """

    def __init__(self, n_features, n_components, encoder_branch, decoder_branch):
        super().__init__()
        self.encoder = LinearPlusBranch(nn.Linear(n_features, n_components), encoder_branch)
        self.decoder = LinearPlusBranch(nn.Linear(n_components, n_features), decoder_branch)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        code = self.encoder(x)
        return self.decoder(code), code

    def halves(self):
        """``(encoder, decoder)`` modules sharing this network's parameters."""
        return self.encoder, self.decoder

    @torch.no_grad()
    def anchor(self, components):
        """Make the network PCA's projection onto ``components``.

        Parameters
        ----------
        components : torch.Tensor of shape (n_directions, n_features)
            Orthonormal rows, in network units. With fewer rows than the
            code's width (an overcomplete code), the remaining code units
            keep their random initial weights.
        """
        encoder, decoder = self.encoder.linear, self.decoder.linear
        k = min(components.shape[0], encoder.out_features)
        components = components[:k].to(encoder.weight)
        encoder.weight[:k] = components
        encoder.bias.zero_()
        decoder.weight[:, :k] = components.T
        decoder.bias.zero_()
        for half in (self.encoder, self.decoder):
            if half.branch is not None:
                last = _last_layer(half.branch)
                last.weight.zero_()
                if last.bias is not None:
                    last.bias.zero_()


def mlp_autoencoder(n_features, hidden_layer_sizes, n_components, activation):
    """A PCA-anchored autoencoder whose branches are fully connected.

    Parameters
    ----------
    n_features : int
    hidden_layer_sizes : tuple of int
        Widths of the encoder branch's hidden layers; the decoder branch uses
        them reversed. ``()`` gives the linear autoencoder alone.
    n_components : int
    activation : str
        Key of :data:`ACTIVATIONS`.

    Returns
    -------
    module : AnchoredAutoencoder
    """
    if not hidden_layer_sizes:
        return AnchoredAutoencoder(n_features, n_components, None, None)
    widths = [n_features, *hidden_layer_sizes, n_components]
    return AnchoredAutoencoder(
        n_features,
        n_components,
        mlp(widths, activation),
        mlp(widths[::-1], activation),
    )


def _conv_classes(n_spatial):
    if n_spatial == 1:
        return nn.Conv1d, nn.ConvTranspose1d
    if n_spatial == 2:
        return nn.Conv2d, nn.ConvTranspose2d
    raise ValueError(f"Only 1 or 2 spatial dimensions are supported; got {n_spatial}.")


def conv_autoencoder(input_shape, channels, n_components, activation):
    """A PCA-anchored autoencoder whose branches are convolutional.

    Every convolution has kernel 3, stride 2 and padding 1, so it halves each
    spatial size, rounding up. The decoder's transposed convolutions choose
    their output padding so that every size is restored exactly: any input
    shape works, down to a single pixel.

    Parameters
    ----------
    input_shape : tuple of int
        ``(channels, length)`` for signals or ``(channels, height, width)``
        for images; rows are these arrays flattened in C order.
    channels : tuple of int
        Output channels of each convolution, from the input inwards. The
        decoder mirrors them. ``()`` gives the linear autoencoder alone.
    n_components : int
    activation : str
        Key of :data:`ACTIVATIONS`.

    Returns
    -------
    module : AnchoredAutoencoder
    """
    in_channels, *spatial = (int(s) for s in input_shape)
    n_features = math.prod(input_shape)
    if not channels:
        return AnchoredAutoencoder(n_features, n_components, None, None)
    conv, conv_transpose = _conv_classes(len(spatial))
    act = ACTIVATIONS[activation]

    sizes = [tuple(spatial)]
    encoder, width = [nn.Unflatten(1, (in_channels, *spatial))], in_channels
    for out_channels in channels:
        encoder += [conv(width, out_channels, 3, stride=2, padding=1), act()]
        sizes.append(tuple((s + 1) // 2 for s in sizes[-1]))
        width = out_channels
    inner_shape = (width, *sizes[-1])
    flat = math.prod(inner_shape)
    encoder += [nn.Flatten(), nn.Linear(flat, n_components)]

    decoder = [nn.Linear(n_components, flat), act(), nn.Unflatten(1, inner_shape)]
    targets = [*reversed(channels[:-1]), in_channels]
    for i, (out_channels, size) in enumerate(zip(targets, reversed(sizes[:-1]))):
        # A stride-2 transposed convolution maps n to 2n - 1 + output_padding;
        # the encoder mapped size to ceil(size / 2), hence the padding.
        padding = tuple(1 - s % 2 for s in size)
        decoder.append(
            conv_transpose(width, out_channels, 3, stride=2, padding=1, output_padding=padding)
        )
        if i < len(targets) - 1:
            decoder.append(act())
        width = out_channels
    decoder.append(nn.Flatten())
    return AnchoredAutoencoder(
        n_features, n_components, nn.Sequential(*encoder), nn.Sequential(*decoder)
    )


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


# Posterior log-variances are clipped to this range, so that exp() cannot
# overflow whatever the input (e.g. shifted data under warm start).
LOG_VAR_RANGE = (-30.0, 20.0)


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
        Key of :data:`ACTIVATIONS`, used after every hidden layer. The
        posterior parameters and the output are linear.

    Attributes
    ----------
    generator : torch.Generator or None
        Source of the reparameterisation noise in training mode. The
        estimator sets it; the module never touches a global generator.
    """

    def __init__(self, n_features, hidden_layer_sizes, n_components, activation):
        super().__init__()
        widths = [n_features, *hidden_layer_sizes]
        self.encoder = mlp(widths, activation, last_activation=True)
        self.mean_head = nn.Linear(widths[-1], n_components)
        self.log_var_head = nn.Linear(widths[-1], n_components)
        self.decoder = mlp([n_components, *widths[::-1]], activation)
        self.generator = None

    def posterior(self, x):
        """Mean and (clipped) log-variance of q(z | x)."""
        hidden = self.encoder(x)
        return self.mean_head(hidden), self.log_var_head(hidden).clamp(*LOG_VAR_RANGE)

    def encode(self, x):
        """Posterior mean: the deterministic code."""
        return self.mean_head(self.encoder(x))

    def halves(self):
        """``(encoder, decoder)`` modules sharing this network's parameters."""
        return nn.Sequential(self.encoder, self.mean_head), self.decoder

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        """Reconstruct ``x`` through a latent draw (training) or the mean (eval).

        Returns
        -------
        reconstruction, mean, log_var : torch.Tensor
            The decoded code, the posterior mean (the code) and the
            log-variance, which the loss needs for its KL term.
        """
        mean, log_var = self.posterior(x)
        z = mean
        if self.training:
            eps = torch.randn(
                mean.shape, generator=self.generator, device=mean.device, dtype=mean.dtype
            )
            z = mean + torch.exp(0.5 * log_var) * eps
        return self.decoder(z), mean, log_var


def init_weights(module, activation, generator):
    """Initialise every ``Linear`` and convolution in ``module`` in place.

    Weights are drawn uniformly with a variance that preserves the scale of
    the signal through ``activation`` (He for the ReLU family, Glorot
    otherwise); biases start at zero. All draws come from ``generator``,
    never from torch's global random state.

    Parameters
    ----------
    module : torch.nn.Module
    activation : str
        Key of :data:`ACTIVATIONS`.
    generator : torch.Generator
    """
    gain = _INIT_GAIN[activation]
    with torch.no_grad():
        for layer in module.modules():
            weight = getattr(layer, "weight", None)
            bias = getattr(layer, "bias", None)
            if isinstance(bias, torch.Tensor):
                bias.zero_()
            if not isinstance(weight, torch.Tensor) or weight.dim() < 2:
                continue
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
            if activation in _RELU_FAMILY:
                bound = gain * math.sqrt(3.0 / fan_in)
            else:
                bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
            weight.uniform_(-bound, bound, generator=generator)


def build(factory, activation, generator):
    """Build a float32 CPU module without touching torch's global random state.

    The module is created on the ``meta`` device (so its constructors draw
    no random numbers), materialised on the CPU and initialised from
    ``generator``. The caller's default dtype does not matter.

    Parameters
    ----------
    factory : callable
        Returns the module when called with no argument.
    activation : str
    generator : torch.Generator
        A CPU generator.

    Returns
    -------
    module : torch.nn.Module
    """
    with torch.device("meta"):
        module = factory()
    module = module.to_empty(device="cpu").to(torch.float32)
    init_weights(module, activation, generator)
    return module


class UnitsWrapper(nn.Module):
    """One half of a fitted network, in the user's units.

    ``forward`` maps ``(x - input_mean) / input_scale`` through ``half`` and
    returns ``out * output_scale + output_mean``. The statistics are buffers,
    so the wrapper moves with ``.to()`` and is saved in ``state_dict``.

    Parameters
    ----------
    half : torch.nn.Module
        Maps network-unit inputs to network-unit outputs.
    input_mean, output_mean : torch.Tensor
        Broadcastable to the input and the output.
    input_scale, output_scale : float
    """

    def __init__(self, half, input_mean, input_scale, output_mean, output_scale):
        super().__init__()
        self.network = half
        self.register_buffer("input_mean", torch.as_tensor(input_mean, dtype=torch.float32))
        self.register_buffer("input_scale", torch.tensor(float(input_scale), dtype=torch.float32))
        self.register_buffer("output_mean", torch.as_tensor(output_mean, dtype=torch.float32))
        self.register_buffer("output_scale", torch.tensor(float(output_scale), dtype=torch.float32))

    def forward(self, x):
        x = ((x - self.input_mean) / self.input_scale).clamp(-NETWORK_UNIT_LIMIT, NETWORK_UNIT_LIMIT)
        return self.network(x) * self.output_scale + self.output_mean


