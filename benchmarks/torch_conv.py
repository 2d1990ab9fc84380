"""PyTorch side of benchmarks/tensor_vs_torch: times Conv2d forward + backward on command.

Started once by tensor_vs_torch as a long-lived child process; reads one command per line
on stdin and answers one line on stdout, so the two sides can alternate repeats.

  run N C H K THREADS BIAS ITERS  -> seconds per step (forward, dx, dw; dbias when BIAS=1)
  warm N C H K THREADS BIAS SECS  -> runs steps for at least SECS seconds and 30 steps; prints the count
  config                          -> one line: oneDNN, BLAS and CPU capability of this build
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
        if words[0] == "config":
            show = torch.__config__.show()
            keep = []
            for part in show.replace(",", "\n").splitlines():
                part = part.strip().lstrip("- ").strip()
                if "BLAS_INFO=" in part:
                    part = part[part.index("BLAS_INFO="):]
                if part.startswith(("Intel(R) MKL-DNN", "oneDNN", "CPU capability", "BLAS_INFO", "USE_MKLDNN")):
                    keep.append(part)
            print("; ".join(keep), flush=True)
            continue
        if words[0] not in ("run", "warm"):
            print("error: unknown command " + words[0], flush=True)
            continue
        n, c, h, k, threads, bias = (int(w) for w in words[1:7])
        torch.set_num_threads(threads)
        key = (n, c, h, k, bias)
        if key not in cache:
            conv = torch.nn.Conv2d(c, c, k, padding=k // 2, bias=bias == 1)
            x = torch.randn(n, c, h, h, requires_grad=True)
            dy = torch.randn(n, c, h, h)
            cache[key] = (conv, x, dy)
        conv, x, dy = cache[key]
        if words[0] == "warm":
            seconds, steps = float(words[7]), 0
            start = time.perf_counter()
            while steps < 30 or time.perf_counter() - start < seconds:
                x.grad = None
                conv(x).backward(dy)
                steps += 1
            print(steps, flush=True)
            continue
        iters = int(words[7])
        start = time.perf_counter()
        for _ in range(iters):
            x.grad = None
            y = conv(x)
            y.backward(dy)
        elapsed = time.perf_counter() - start
        print("%.9f" % (elapsed / iters), flush=True)


if __name__ == "__main__":
    main()
