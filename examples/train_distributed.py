"""
=====================================
Data-parallel training with torchrun
=====================================

Train one autoencoder in several processes, each on its own share of the
rows. Launch it with::

    torchrun --nproc_per_node=2 examples/train_distributed.py

(``--master_addr=127.0.0.1 --master_port=PORT`` pins the rendezvous to the
loopback interface and a port of your choice.) Run with plain ``python`` it
is an ordinary single-process fit.

Each process joins the process group that ``torchrun`` describes in its
environment, keeps every ``WORLD_SIZE``-th row starting at its ``RANK`` and
calls ``fit`` as usual. skae sees the group and trains one model: the
statistics and the PCA starting point are those of all the rows together,
the gradients are averaged over the processes at every step, and the early
stopping decision is taken on the validation rows of all processes. Every
process ends with the same fitted estimator. On GPUs, the processes use the
NCCL backend and each its own ``cuda:LOCAL_RANK`` device.

This script is not run when the documentation is built (it needs
``torchrun``); the user guide's :ref:`distributed` page explains the
details.
"""

import os
import time

import numpy as np
import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skae import AutoencoderTransformer

launched = "RANK" in os.environ  # set by torchrun
if launched:
    if os.environ.get("MASTER_ADDR") in ("127.0.0.1", "localhost"):
        # One machine: keep Gloo's connections on the loopback interface.
        os.environ.setdefault("GLOO_SOCKET_IFNAME", "lo")
    if torch.cuda.is_available():
        local_rank = int(os.environ["LOCAL_RANK"])
        torch.cuda.set_device(local_rank)
        device = f"cuda:{local_rank}"
        dist.init_process_group("nccl")
    else:
        device = "cpu"
        dist.init_process_group("gloo")
    rank, world_size = dist.get_rank(), dist.get_world_size()
else:
    device, rank, world_size = "cpu", 0, 1

# %%
# Each process reads its own rows. Here every process loads the digits and
# keeps its share; with data on disk, each would read only its rows.
X = load_digits().data
X_train, X_test = train_test_split(X, test_size=0.2, random_state=0)
shard = X_train[rank::world_size]

# %%
# ``fit`` is the same call as in a single process; ``batch_size`` (here
# "auto") is the batch of all processes together.
start = time.perf_counter()
est = AutoencoderTransformer(
    n_components=10, hidden_layer_sizes=(64,), random_state=0, device=device
).fit(shard)
seconds = time.perf_counter() - start

# %%
# Every process holds the same model: check it by comparing a checksum of
# the weights across the processes.
checksum = sum(float(np.abs(w).sum()) for w in est._model["weights"].values())
if launched:
    spread = torch.tensor([checksum, -checksum], dtype=torch.float64, device=device)
    dist.all_reduce(spread, op=dist.ReduceOp.MAX)
    identical = bool(spread[0] == -spread[1])
else:
    identical = True

if rank == 0:
    print(f"{world_size} process(es), {len(shard)} training rows here, {seconds:.1f} s")
    print(f"n_components_={est.n_components_}, epochs={est.n_iter_}, is_pca_={est.is_pca_}")
    print(f"validation error {est.validation_error_:.3f} "
          f"(PCA {est.pca_validation_error_:.3f})")
    print(f"held-out reconstruction error {-est.score(X_test):.3f}")
    print(f"same weights on every process: {identical}")

if launched:
    dist.destroy_process_group()
