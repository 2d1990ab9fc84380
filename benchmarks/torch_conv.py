"""PyTorch side of benchmarks/tensor_vs_torch: times Conv2d forward + backward on command.

Started once by tensor_vs_torch as a long-lived child process; reads one command per line
on stdin and answers one line on stdout, so the two sides can alternate repeats.

  run N C H K THREADS BIAS ITERS  -> seconds per step (forward, dx, dw; dbias when BIAS=1)
  params C K BIAS                 -> parameter count of the Conv2d
  quit
"""
import sys
import time

try:
    import torch
except ImportError:
    print("missing torch (install it with: sudo apt-get install python3-torch)", flush=True)
    sys.exit(0)


def main():
    torch.manual_seed(0)
    print("torch " + torch.__version__, flush=True)
    cache = {}
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        if words[0] == "quit":
            break
        if words[0] == "params":
            c, k, bias = int(words[1]), int(words[2]), words[3] == "1"
            conv = torch.nn.Conv2d(c, c, k, padding=k // 2, bias=bias)
            print(sum(p.numel() for p in conv.parameters()), flush=True)
            continue
        if words[0] != "run":
            print("error: unknown command " + words[0], flush=True)
            continue
        n, c, h, k, threads, bias, iters = (int(w) for w in words[1:8])
        torch.set_num_threads(threads)
        key = (n, c, h, k, bias)
        if key not in cache:
            conv = torch.nn.Conv2d(c, c, k, padding=k // 2, bias=bias == 1)
            x = torch.randn(n, c, h, h, requires_grad=True)
            dy = torch.randn(n, c, h, h)
            cache[key] = (conv, x, dy)
        conv, x, dy = cache[key]
        start = time.perf_counter()
        for _ in range(iters):
            x.grad = None
            y = conv(x)
            y.backward(dy)
        elapsed = time.perf_counter() - start
        print("%.9f" % (elapsed / iters), flush=True)


if __name__ == "__main__":
    main()
