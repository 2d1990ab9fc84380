#!/usr/bin/python3
"""PyTorch peer of benchmarks/oneshot_speed.cpp: a single-path NAS-Bench-201 supernet epoch.

The supernet is torch_nb201.py's TinyNetwork skeleton whose six cell edges each hold the
five NB201 ops (none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3, in that
order). Each training step runs one path, given per step in a file of lines of six op
codes (the same file nas replays). Written as an expert would: edges whose op is `none`
are skipped rather than multiplied by zero, gradients are set to None so that SGD skips
the ops a step did not reach (as nas's optimizer does), and clipping sees only the
gradients a step produced.

Serve mode (a long-lived child of the C++ benchmark), one command per line:
  build <N> <C> <paths file> <contiguous|channels_last>   -> "ok params <count>"
  epoch <steps> <threads>                                 -> "ok <wall s> <CPU s>"
  version                                                 -> "ok <torch version>"
  quit
"""
import os
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_nb201 as nb  # noqa: E402

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]
# Edge e of an NB201 cell: (destination node, source node), the order of Nb201Arch::ops.
EDGES = [(1, 0), (2, 0), (2, 1), (3, 0), (3, 1), (3, 2)]


class SuperCell(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.edges = nn.ModuleList(nn.ModuleList(nb.make_op(name, c) for name in OPS) for _ in EDGES)
        self.path = [0] * len(EDGES)

    def forward(self, x):
        states = [x]
        for node in (1, 2, 3):
            total = None
            for e, (dst, src) in enumerate(EDGES):
                if dst != node or self.path[e] == 0:
                    continue
                y = self.edges[e][self.path[e]](states[src])
                total = y if total is None else total + y
            states.append(total if total is not None else torch.zeros_like(x))
        return states[-1]


class Supernet(nn.Module):
    def __init__(self, n, c):
        super().__init__()
        self.stem_conv = nn.Conv2d(nb.IN_CHANNELS, c, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(c)
        layers, self.cells = [], []
        c_prev = c
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage > 0:
                layers.append(nb.BasicBlock(c_prev, width))
                c_prev = width
            for _ in range(n):
                cell = SuperCell(width)
                self.cells.append(cell)
                layers.append(cell)
        self.layers = nn.Sequential(*layers)
        self.last_bn = nn.BatchNorm2d(c_prev)
        self.classifier = nn.Linear(c_prev, nb.CLASSES)

    def select(self, path):
        for cell in self.cells:
            cell.path = path

    def forward(self, x):
        x = self.stem_bn(self.stem_conv(x))
        x = self.layers(x)
        x = F.relu(self.last_bn(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)


class Bench:
    def __init__(self, n, c, paths_file, layout):
        torch.manual_seed(0)
        self.model = Supernet(n, c)
        self.fmt = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        self.model = self.model.to(memory_format=self.fmt)
        self.params = sum(p.numel() for p in self.model.parameters())
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=5e-4)
        with open(paths_file) as f:
            self.paths = [[int(v) for v in line.split()] for line in f if line.strip()]
        # A pool of batches as the nas side's loader gives them (random images, fixed labels).
        g = torch.Generator().manual_seed(1)
        self.xs = [torch.randn(nb.BATCH, nb.IN_CHANNELS, nb.IMAGE, nb.IMAGE, generator=g).contiguous(memory_format=self.fmt)
                   for _ in range(16)]
        self.ys = [torch.randint(0, nb.CLASSES, (nb.BATCH,), generator=g) for _ in range(16)]

    def epoch(self, steps):
        self.model.train()
        t0, c0 = time.perf_counter(), time.process_time()
        for s in range(steps):
            self.model.select(self.paths[s % len(self.paths)])
            self.opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(self.model(self.xs[s % 16]), self.ys[s % 16])
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for p in self.model.parameters() if p.grad is not None], 5.0)
            self.opt.step()
        return time.perf_counter() - t0, time.process_time() - c0


def serve():
    bench = None
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            if words[0] == "quit":
                break
            if words[0] == "build":
                bench = Bench(int(words[1]), int(words[2]), words[3], words[4])
                reply = "ok params %d" % bench.params
            elif words[0] == "epoch":
                torch.set_num_threads(int(words[2]))
                reply = "ok %.9f %.9f" % bench.epoch(int(words[1]))
            elif words[0] == "version":
                reply = "ok %s" % torch.__version__
            else:
                reply = "error unknown command '%s'" % words[0]
        except Exception as e:  # the parent reads the reason and stops cleanly
            reply = "error %s: %s" % (type(e).__name__, str(e).replace("\n", " "))
        sys.stdout.write(reply + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    serve()
