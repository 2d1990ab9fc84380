#!/usr/bin/python3
"""PyTorch peer of benchmarks/zero_cost_speed.cpp: SynFlow and NASWOT of NAS-Bench-201 networks.

Reads arch strings, one per line, on stdin and prints one line per measurement:
  version <torch version>
  <method> <variant> <cells> <seconds>      (network construction included)

SynFlow as zero-cost-nas computes it (Abdelfattah et al. 2021): |theta| for every
parameter and buffer, BatchNorm bypassed, the network in double precision (float32
overflows on this 15-cell network), an all-ones 1x3x32x32 input, R = sum(output),
score = sum |theta * dR/dtheta| over conv and linear weights.
NASWOT as Mellor et al. 2021 compute it: the binary codes of every ReLU's input over a
minibatch, K += c c^T + (1 - c)(1 - c)^T, score = slogdet(K); one forward, no gradient.
The network is TinyNetwork of benchmarks/torch_nb201.py at the benchmark's shape.

  zero_cost_torch.py --threads 1 --batch 64 < archs.txt
"""
import argparse
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

import torch_nb201 as nb

nb.IN_CHANNELS = 3
nb.CLASSES = 10


class ReluRecorder:
    """Stands in for torch.nn.functional inside torch_nb201: relu() adds the codes to K."""

    def __init__(self):
        self.k = None

    def __getattr__(self, name):
        return getattr(F, name)

    def relu(self, x, inplace=False):
        if self.k is not None:
            c = (x > 0).flatten(1).float()
            self.k += c @ c.t() + (1.0 - c) @ (1.0 - c).t()
        return F.relu(x)


def synflow(arch):
    torch.manual_seed(0)
    net = nb.TinyNetwork(5, 16, arch)
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.forward = lambda x: x
    with torch.no_grad():
        for v in net.state_dict().values():
            v.abs_()
    net = net.double()
    net.zero_grad()
    out = net(torch.ones(1, 3, 32, 32, dtype=torch.float64))
    torch.sum(out).backward()
    s = 0.0
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            s += torch.sum(torch.abs(m.weight * m.weight.grad)).item()
    return s


def naswot(arch, x, recorder, channels_last):
    torch.manual_seed(0)
    net = nb.TinyNetwork(5, 16, arch)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    recorder.k = torch.zeros(x.shape[0], x.shape[0])
    with torch.no_grad():
        net(x)
    _, logdet = torch.linalg.slogdet(recorder.k)
    recorder.k = None
    return logdet.item()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=64)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    archs = [line.strip() for line in sys.stdin if line.strip()]
    recorder = ReluRecorder()
    nb.F = recorder
    x = torch.randn(a.batch, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    print("version", torch.__version__, flush=True)
    # Warm-up: a few cells of each method, untimed.
    for arch in archs[:3]:
        synflow(arch)
        naswot(arch, x, recorder, False)
        naswot(arch, x, recorder, True)
    t = time.perf_counter()
    for arch in archs:
        synflow(arch)
    print("synflow default", len(archs), time.perf_counter() - t, flush=True)
    for variant, cl in (("default", False), ("channels_last", True)):
        t = time.perf_counter()
        for arch in archs:
            naswot(arch, x, recorder, cl)
        print("naswot", variant, len(archs), time.perf_counter() - t, flush=True)


if __name__ == "__main__":
    main()
