"""GraSP as the reference computes it (zero-cost-nas: autograd's double backward), on networks nas exported.

Reads <dir>/batch.tensors and <dir>/net<k>.py (written by zero_cost_grasp_vs_autograd) and
prints one line per network: "<k> <grasp float32> <grasp float64>".
"""
import importlib
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F


def grasp(net, x, y):
    weights = [m.weight for m in net.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    net.zero_grad()
    g = torch.autograd.grad(F.cross_entropy(net(x), y), weights)
    f = torch.autograd.grad(F.cross_entropy(net(x), y), weights, create_graph=True)
    z = sum((a.detach() * b).sum() for a, b in zip(g, f))
    z.backward()
    return sum((-w.data * w.grad).sum().item() for w in weights)


def main():
    folder, count = sys.argv[1], int(sys.argv[2])
    torch.set_num_threads(1)
    sys.path.insert(0, folder)
    for k in range(count):
        module = importlib.import_module("net%d" % k)
        batch = module.load_tensors(folder + "/batch.tensors")
        x, y = batch["images"], batch["labels"].long()
        net = module.load()
        net.train()
        single = grasp(net, x, y)
        double = grasp(net.double(), x.double(), y)
        print(k, single, double, flush=True)


if __name__ == "__main__":
    main()
