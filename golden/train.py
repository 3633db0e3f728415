"""Training: global model on DS1, per-record fine-tuning on DS2, six-class random split.

Recipe after the MSGC paper: AdamW, cosine annealing, mixup. The paper's lr 3e-4 is for its
smaller batch; we train with batch 256 and scale the rate linearly (1e-3). Everything is seeded and
runs with deterministic algorithms on a fixed thread count, so a seed reproduces the same model.
"""

from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from .beats import binary_labels, six_labels
from .spec.config import ModelConfig
from .model import Net
from .normalize import normalize

THREADS = 2


def setup_determinism(seed, threads=None):
    torch.manual_seed(seed)
    np.random.seed(seed)
    torch.set_num_threads(threads or THREADS)
    torch.use_deterministic_algorithms(True)


def prepare(beats, task):
    """(x int8 normalised beats as int64 tensor, labels int64 tensor) for a task."""
    x = normalize(torch.from_numpy(beats.raw.astype(np.int64)))
    y = binary_labels(beats.symbol) if task == "binary" else six_labels(beats.symbol)
    return x, torch.from_numpy(y)


def fit(net: Net, x, y, epochs, lr, seed, batch=256, mixup=0.2, desc="train", quiet=False, threads=None,
        class_weight=None, scale_aug=0.0, inputs=None):
    """Train in place with AdamW + cosine annealing + mixup; returns seconds taken.

    The result is a function of the seed and the thread count (default ``THREADS``).
    ``class_weight``: optional per-class loss weights (a list, one per class).
    ``scale_aug``: each training beat's samples (the first ``input_length`` columns) are scaled by a
    random factor in [1 - scale_aug, 1 + scale_aug] (amplitude augmentation; 0: off).
    ``inputs``: optional ``inputs(idx, generator) -> rows`` that makes the batch of the beats
    ``idx`` instead of ``x[idx]`` (``x`` then only gives the number of beats), e.g. windows cut at
    a random shift (golden/aami4.py); it draws its random numbers from ``generator``.
    """
    setup_determinism(seed, threads)
    gen = torch.Generator().manual_seed(seed)
    ncls = net.cfg.layers[-1].cout
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-2)
    steps_per_epoch = max(1, (len(x) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    beta = torch.distributions.Beta(torch.tensor(mixup), torch.tensor(mixup)) if mixup > 0 else None
    cw = torch.ones(ncls) if class_weight is None else torch.tensor(class_weight, dtype=torch.float32)
    t0 = time.time()
    net.train()
    bar = tqdm(range(epochs), desc=desc, disable=quiet, leave=False)
    for _ in bar:
        perm = torch.randperm(len(x), generator=gen)
        total = 0.0
        for i in range(0, len(x), batch):
            idx = perm[i:i + batch]
            if len(idx) < 2 and len(x) > 1:
                continue        # a last batch of one beat: batch norm cannot train on it (skipped)
            xb = (x[idx] if inputs is None else inputs(idx, gen)).float()
            yb = F.one_hot(y[idx], ncls).float()
            if scale_aug > 0:
                length = net.cfg.input_length
                f = 1 + scale_aug * (2 * torch.rand(len(idx), 1, generator=gen) - 1)
                xb = torch.cat([torch.clamp(torch.round(xb[:, :length] * f), -128, 127), xb[:, length:]], 1)
            if beta is not None and len(idx) > 1:
                lam = float(beta.sample())
                j = torch.randperm(len(idx), generator=gen)
                xb = lam * xb + (1 - lam) * xb[j]
                yb = lam * yb + (1 - lam) * yb[j]
            logits = net(xb)
            loss = torch.sum(-yb * cw * F.log_softmax(logits, 1), 1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        bar.set_postfix(loss=f"{total / len(x):.4f}")
    net.eval()
    return time.time() - t0


@torch.no_grad()
def predict(net: Net, x, batch=4096):
    net.eval()
    return torch.cat([net(x[i:i + batch].float()).argmax(1) for i in range(0, len(x), batch)])


def new_net(cfg: ModelConfig, quant, seed):
    torch.manual_seed(seed)
    return Net(cfg, quant=quant)
