#!/usr/bin/env python3
"""golden_torch.py — golden values for tests/test_train_golden.c from an
independent implementation (PyTorch): one forward + backward + two optimizer
steps of the model zoo's mlp (SGD, momentum, weight decay, label smoothing)
and lenet5 (AdamW). Parameters and inputs come from an integer hash that the
C test reproduces exactly, so nothing large is stored.

Needs python3-torch (Debian); never a build or CI dependency. Run:
    /usr/bin/python3 scripts/golden_torch.py tests/golden
"""
import struct
import sys

import numpy as np
import torch
import torch.nn as nn

MASK = 0xFFFFFFFF


def hval(i, seed):
    """A value in [-1, 1] from (i, seed); mirrored by golden_value() in C."""
    h = (i * 2654435761 + seed * 40503 + 12345) & MASK
    h ^= h >> 15
    h = (h * 2246822519) & MASK
    h ^= h >> 13
    return (h % 20001) / 10000.0 - 1.0


def fill(shape, seed, scale, offset=0.0):
    n = int(np.prod(shape))
    v = np.array([hval(i, seed) * scale + offset for i in range(n)],
                 dtype=np.float64)
    return torch.tensor(v.astype(np.float32).reshape(shape))


def sample_idx(n):
    if n <= 1024:
        return list(range(n))
    return list(range(64)) + [(k * 7919 + 13) % n for k in range(192)]


def make(name):
    if name == "mlp":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(),
                             nn.Linear(256, 128), nn.ReLU(),
                             nn.Linear(128, 10))
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Conv2d(6, 16, 5), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(400, 120),
                         nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


def run(name, opt_kind, path):
    torch.manual_seed(0)
    model = make(name)
    weighted = [m for m in model if isinstance(m, (nn.Linear, nn.Conv2d))]
    for li, m in enumerate(weighted):
        fan_in = int(np.prod(m.weight.shape[1:]))
        bound = 1.0 / np.sqrt(fan_in)
        with torch.no_grad():
            m.weight.copy_(fill(m.weight.shape, 100 + 2 * li, bound))
            m.bias.copy_(fill(m.bias.shape, 101 + 2 * li, bound))
    B = 8
    x = fill((B, 1, 28, 28), 7, 0.5, 0.5)
    y = torch.tensor([(3 * i + 1) % 10 for i in range(B)])
    decay = [m.weight for m in weighted]
    nodecay = [m.bias for m in weighted]
    if opt_kind == "sgd":
        opt = torch.optim.SGD([{"params": decay, "weight_decay": 5e-4},
                               {"params": nodecay, "weight_decay": 0.0}],
                              lr=0.1, momentum=0.9)
    else:
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01},
                                 {"params": nodecay, "weight_decay": 0.0}],
                                lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    lossf = nn.CrossEntropyLoss(label_smoothing=0.1)
    out = {}
    for step in range(2):
        opt.zero_grad()
        logits = model(x)
        loss = lossf(logits, y)
        loss.backward()
        if step == 0:
            out["logits"] = logits.detach().numpy().ravel()
            out["loss"] = np.array([loss.item()])
            for li, m in enumerate(weighted):
                for pn, p in (("w", m.weight), ("b", m.bias)):
                    g = p.grad.numpy().ravel()
                    out["grad%d%s" % (li, pn)] = g[sample_idx(g.size)]
        opt.step()
    for li, m in enumerate(weighted):
        for pn, p in (("w", m.weight), ("b", m.bias)):
            v = p.detach().numpy().ravel()
            out["param%d%s" % (li, pn)] = v[sample_idx(v.size)]
    with open(path, "wb") as f:
        f.write(b"TGOLD001")
        f.write(struct.pack("<I", len(out)))
        for k, v in out.items():
            kb = k.encode()
            f.write(struct.pack("<I", len(kb)) + kb)
            v = np.asarray(v, dtype=np.float32)
            f.write(struct.pack("<I", v.size) + v.tobytes())
    print("wrote", path, "loss %.6f" % out["loss"][0])


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else "tests/golden"
    run("mlp", "sgd", d + "/mlp_sgd.bin")
    run("lenet5", "adamw", d + "/lenet5_adamw.bin")
