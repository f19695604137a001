"""PyTorch building blocks for the autoencoders.

This module imports torch only. Every size is a constructor argument, layers
are ``nn.Sequential`` stacks, and ``encode`` / ``decode`` are separate methods
so that the estimators can call each half on its own.
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

# Gain used to initialise the weights that feed each activation.
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


class MLPAutoencoder(nn.Module):
    """Fully connected autoencoder with a mirrored decoder and a linear code.

    Parameters
    ----------
    n_features : int
        Width of the input and of the reconstruction.
    hidden_layer_sizes : tuple of int
        Widths of the encoder's hidden layers; the decoder uses them reversed.
    n_components : int
        Width of the code.
    activation : str
        Activation after every hidden layer. The code and the output are linear.
    """

    def __init__(self, n_features, hidden_layer_sizes, n_components, activation):
        super().__init__()
        widths = [n_features, *hidden_layer_sizes, n_components]
        self.activation = activation
        self.encoder = mlp(widths, activation)
        self.decoder = mlp(widths[::-1], activation)

    def encode(self, x):
        return self.encoder(x)

    def decode(self, z):
        return self.decoder(z)

    def forward(self, x):
        return self.decoder(self.encoder(x))


def init_weights(module, activation, generator):
    """Initialise every ``Linear`` and convolution in ``module`` in place.

    Weights are drawn uniformly with a variance that preserves the scale of the
    signal through ``activation`` (He for the ReLU family, Glorot otherwise);
    biases start at zero and normalisation layers at the identity. All draws come from ``generator``, never from torch's
    global random state.

    Parameters
    ----------
    module : torch.nn.Module
    activation : str
        Key of :data:`ACTIVATIONS`.
    generator : torch.Generator
    """
    gain = _INIT_GAIN[activation]
    relu_family = activation in ("relu", "leaky_relu", "elu", "gelu")
    with torch.no_grad():
        for layer in module.modules():
            if hasattr(layer, "reset_running_stats"):
                layer.reset_running_stats()
            weight = getattr(layer, "weight", None)
            bias = getattr(layer, "bias", None)
            if isinstance(bias, torch.Tensor):
                bias.zero_()
            if not isinstance(weight, torch.Tensor):
                continue
            if weight.dim() < 2:  # normalisation layers
                weight.fill_(1.0)
                continue
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(weight)
            if relu_family:
                bound = gain * math.sqrt(3.0 / fan_in)
            else:
                bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
            weight.uniform_(-bound, bound, generator=generator)


def build(factory, activation, generator, device):
    """Build a module without touching torch's global random state.

    The module is created on the ``meta`` device (so its constructors draw no
    random numbers), materialised on ``device`` and initialised from
    ``generator``.

    Parameters
    ----------
    factory : callable
        Returns the module when called with no argument.
    activation : str
    generator : torch.Generator
        A CPU generator.
    device : torch.device

    Returns
    -------
    module : torch.nn.Module
        On ``device``, in float32.
    """
    with torch.device("meta"):
        module = factory()
    module = module.to_empty(device="cpu")
    init_weights(module, activation, generator)
    return module.to(device)
