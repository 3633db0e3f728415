"""Training is deterministic for a seed (same model file bytes), and learns on real beats."""

import numpy as np
import pytest
import torch

from ternecg.golden import export, fixture, train
from ternecg.golden.beats import binary_labels
from ternecg.golden.spec.config import load_config
from ternecg.golden.normalize import normalize


def _train_once(seed):
    fx = fixture.load()
    x = normalize(torch.as_tensor(fx["raw"].astype(np.int64)))
    y = torch.as_tensor(binary_labels(fx["symbol"]))
    net = train.new_net(load_config("msgc_mux"), True, seed)
    train.fit(net, x, y, epochs=3, lr=1e-3, seed=seed, batch=64, quiet=True)
    return export.export(net, {"seed": seed}), net, x, y


@pytest.mark.slow           # two trainings, ~20-40 s: out of `make test-fast`, in `make test`
def test_same_seed_same_model_file():
    a, _, _, _ = _train_once(3)
    b, _, _, _ = _train_once(3)
    c, _, _, _ = _train_once(4)
    assert a == b
    assert a["sha256"] != c["sha256"]


def test_training_reduces_the_loss_on_real_beats():
    _, net, x, y = _train_once(5)
    acc = float((train.predict(net, x) == y).float().mean())
    assert acc > 0.6          # 3 epochs on 302 beats, half of them abnormal: well above chance
