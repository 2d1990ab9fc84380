#!/usr/bin/python3
"""PyTorch peer of benchmarks/darts_vs_torch.cpp: search steps of first-order DARTS and GDAS
on the NAS-Bench-201 supernet (the ops and skeleton of torch_nb201.py, whose cells' six
edges each hold all five ops; candidate ops' BatchNorm without affine weights, as DARTS
searches).

  darts_torch.py <darts|gdas> <C> <N> <threads> <warmup> <steps> <default|channels_last>

prints "params <count> step_s <s> <s> ..." (wall seconds of each timed step).

A step is what Darts does per batch: an alpha step on a validation batch (forward,
backward, Adam) and a w step on a training batch (forward, backward, clipping at 5, SGD
with momentum). Configured as an expert would: `none` is skipped (it adds zeros), the
w step detaches the op weights (no alpha gradient there), GDAS runs only the sampled op.
"""
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_nb201 import AvgPool3x3, BasicBlock, Identity, IN_CHANNELS, IMAGE, CLASSES, BATCH  # noqa: E402

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
EDGES = [(0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3)]


class ReluConvBnSearch(nn.Module):
    def __init__(self, c, kernel, padding):
        super().__init__()
        self.conv = nn.Conv2d(c, c, kernel, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c, affine=False)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))


def make_op(name, c):
    if name == "nor_conv_3x3":
        return ReluConvBnSearch(c, 3, 1)
    if name == "nor_conv_1x1":
        return ReluConvBnSearch(c, 1, 0)
    if name == "avg_pool_3x3":
        return AvgPool3x3()
    if name == "skip_connect":
        return Identity()
    return None  # none: contributes nothing


class SearchCell(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.edges = nn.ModuleList()
        for _ in EDGES:
            ops = nn.ModuleList()
            for name in OPS:
                op = make_op(name, c)
                ops.append(op if op is not None else nn.Identity())
            self.edges.append(ops)

    def forward(self, x, weights, index=None):
        states = [x]
        for node in (1, 2, 3):
            total = 0
            for e, (a, b) in enumerate(EDGES):
                if b != node:
                    continue
                s = states[a]
                if index is None:  # DARTS: the weighted sum of every op but none
                    for k in range(1, len(OPS)):
                        total = total + weights[e, k] * self.edges[e][k](s)
                else:  # GDAS: the sampled op only, with its straight-through weight
                    k = int(index[e])
                    if k != 0:
                        total = total + weights[e, k] * self.edges[e][k](s)
                    else:
                        total = total + weights[e, k] * torch.zeros_like(s)
            states.append(total)
        return states[-1]


class SearchNetwork(nn.Module):
    def __init__(self, n, c):
        super().__init__()
        self.stem_conv = nn.Conv2d(IN_CHANNELS, c, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(c)
        self.layers = nn.ModuleList()
        c_prev = c
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage > 0:
                self.layers.append(BasicBlock(c_prev, width))
                c_prev = width
            for _ in range(n):
                self.layers.append(SearchCell(width))
        self.last_bn = nn.BatchNorm2d(c_prev)
        self.classifier = nn.Linear(c_prev, CLASSES)
        self.alpha = nn.Parameter(1e-3 * torch.randn(len(EDGES), len(OPS)))

    def weight_parameters(self):
        return [p for n, p in self.named_parameters() if n != "alpha"]

    def forward(self, x, weights, index=None):
        x = self.stem_bn(self.stem_conv(x))
        for layer in self.layers:
            x = layer(x, weights, index) if isinstance(layer, SearchCell) else layer(x)
        x = F.relu(self.last_bn(x))
        return self.classifier(F.adaptive_avg_pool2d(x, 1).flatten(1))


def gumbel(alpha, tau):
    while True:
        g = -torch.empty_like(alpha).exponential_().log()
        logits = (alpha.log_softmax(dim=1) + g) / tau
        probs = F.softmax(logits, dim=1)
        index = probs.max(-1, keepdim=True)[1]
        one_h = torch.zeros_like(logits).scatter_(-1, index, 1.0)
        hard = one_h - probs.detach() + probs
        if not (torch.isinf(g).any() or torch.isinf(probs).any() or torch.isnan(probs).any()):
            return hard, index.view(-1)


def main():
    variant, c, n, threads, warmup, steps, layout = sys.argv[1:8]
    c, n, threads, warmup, steps = int(c), int(n), int(threads), int(warmup), int(steps)
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    net = SearchNetwork(n, c)
    fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
    net = net.to(memory_format=fmt)
    w_opt = torch.optim.SGD(net.weight_parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    a_opt = torch.optim.Adam([net.alpha], lr=3e-4, betas=(0.5, 0.999), weight_decay=1e-3)
    xt = torch.randn(BATCH, IN_CHANNELS, IMAGE, IMAGE).to(memory_format=fmt)
    xv = torch.randn(BATCH, IN_CHANNELS, IMAGE, IMAGE).to(memory_format=fmt)
    yt = torch.randint(0, CLASSES, (BATCH,))
    yv = torch.randint(0, CLASSES, (BATCH,))
    params = sum(p.numel() for p in net.weight_parameters())
    times = []
    for step in range(warmup + steps):
        t0 = time.perf_counter()
        # alpha step on the validation batch
        if variant == "gdas":
            w, index = gumbel(net.alpha, 1.0)
        else:
            w, index = F.softmax(net.alpha, dim=-1), None
        loss = F.cross_entropy(net(xv, w, index), yv)
        a_opt.zero_grad()
        w_opt.zero_grad()
        loss.backward()
        a_opt.step()
        # w step on the training batch
        if variant == "gdas":
            w, index = gumbel(net.alpha.detach(), 1.0)
        else:
            w, index = F.softmax(net.alpha.detach(), dim=-1), None
        loss = F.cross_entropy(net(xt, w, index), yt)
        w_opt.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(net.weight_parameters(), 5.0)
        w_opt.step()
        if step >= warmup:
            times.append(time.perf_counter() - t0)
    print("params %d torch %s step_s %s" % (params, torch.__version__, " ".join("%.6f" % t for t in times)))


if __name__ == "__main__":
    main()
