#!/usr/bin/python3
"""PyTorch peer of benchmarks/training_vs_torch.cpp: NAS-Bench-201 TinyNetwork (and any
network nas exports with export_pytorch, such as a DARTS genotype network) timed in the
configurations a CPU expert would pick as well as in PyTorch's defaults.

The network follows the NAS-Bench-201 macro skeleton (Dong & Yang, ICLR 2020):
a 3x3 conv stem + BN, three stages of N cells with C, 2C, 4C channels, a ResNet
basic block with stride 2 between stages, BN-ReLU, global average pooling and a
linear head. Cell ops: ReLU-Conv-BN (1x1, 3x3), 3x3 average pooling, skip, zero.

Configurations (CONFIGS below): training in the default contiguous layout or with model
and input in channels_last; inference in eager mode (default: torch.no_grad()), eager
channels_last under torch.inference_mode(), to_mkldnn() weights, frozen TorchScript
(torch.jit.trace, torch.jit.freeze, torch.jit.optimize_for_inference) with contiguous or
channels_last input, and frozen TorchScript with oneDNN graph fusion. Every configuration
runs on its own copy of the model; inference copies are built per batch size.

Two ways to run it:

  serve mode (default): a long-lived child of the C++ benchmark. It reads one
  command per line on stdin and answers one line on stdout:
    build <key> <N> <C> <arch>          -> "ok params <count>"   (TinyNetwork)
    load <key> <file.py>                -> "ok params <count>"   (an export_pytorch module)
    configs <train|infer>               -> "ok <config> <config> ..."
    prepare <key> <mode> <config> <batch> -> "ok" (or "error <why>": the configuration
                                           does not work for this network)
    run <key> <train|infer> <threads> <steps> <repeats> [<config> [<batch>]]
                                        -> "ok <wall s> <CPU s> per repeat ..."
    lat <key> <config> <threads> <calls> -> "ok <wall s> per single-image call ..."
    rss                                 -> "ok <max RSS in KiB>"
    version                             -> "ok <torch version>"
    quit

  --rss N C arch threads steps: builds one network, trains `steps` steps and prints
  "params <count> rss_kib <max RSS> base_kib <max RSS before the model was built>"
  (peak memory of a process doing only that).
  --rss-module file.py threads steps: the same for an export_pytorch module.
"""
import copy
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

IN_CHANNELS = 1
IMAGE = 28
CLASSES = 10
BATCH = 64


class ReluConvBn(nn.Module):
    """ReLU, then a bias-free convolution, then an affine BatchNorm."""

    def __init__(self, c_in, c_out, kernel, stride, padding):
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return self.bn(self.conv(F.relu(x)))


class AvgPool3x3(nn.Module):
    """3x3 average pool (stride 1, pad 1, border windows divide by their real size)."""

    def forward(self, x):
        return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class Zero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


class Identity(nn.Module):
    def forward(self, x):
        return x


def make_op(name, c):
    # Inside an NB201 cell every edge keeps the channel count and stride 1.
    if name == "nor_conv_3x3":
        return ReluConvBn(c, c, 3, 1, 1)
    if name == "nor_conv_1x1":
        return ReluConvBn(c, c, 1, 1, 0)
    if name == "avg_pool_3x3":
        return AvgPool3x3()
    if name == "skip_connect":
        return Identity()
    if name == "none":
        return Zero()
    raise ValueError("unknown NB201 op '%s'" % name)


def parse_arch(text):
    """'|op~0|+|op~0|op~1|+|op~0|op~1|op~2|' -> [[(op, src)], [..], [..]]."""
    nodes = []
    for part in text.split("+"):
        edges = []
        for token in part.strip("|").split("|"):
            op, src = token.split("~")
            edges.append((op, int(src)))
        nodes.append(edges)
    return nodes


class Cell(nn.Module):
    """Node j (1..3) is the sum of op(node i) over its incoming edges; output is node 3."""

    def __init__(self, nodes, c):
        super().__init__()
        self.edges = nn.ModuleList()
        self.plan = []
        for edges in nodes:
            entry = []
            for op, src in edges:
                entry.append((len(self.edges), src))
                self.edges.append(make_op(op, c))
            self.plan.append(entry)

    def forward(self, x):
        states = [x]
        for entry in self.plan:
            total = None
            for index, src in entry:
                y = self.edges[index](states[src])
                total = y if total is None else total + y
            states.append(total)
        return states[-1]


class BasicBlock(nn.Module):
    """ResNet basic block with stride 2: two ReLU-Conv-BN 3x3 and an avgpool+1x1 shortcut."""

    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv_a = ReluConvBn(c_in, c_out, 3, 2, 1)
        self.conv_b = ReluConvBn(c_out, c_out, 3, 1, 1)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x):
        residual = self.shortcut(F.avg_pool2d(x, 2, stride=2))
        return residual + self.conv_b(self.conv_a(x))


class TinyNetwork(nn.Module):
    def __init__(self, n, c, arch):
        super().__init__()
        nodes = parse_arch(arch)
        self.stem_conv = nn.Conv2d(IN_CHANNELS, c, 3, padding=1, bias=False)
        self.stem_bn = nn.BatchNorm2d(c)
        layers = []
        c_prev = c
        for stage, width in enumerate((c, 2 * c, 4 * c)):
            if stage > 0:
                layers.append(BasicBlock(c_prev, width))
                c_prev = width
            for _ in range(n):
                layers.append(Cell(nodes, width))
        self.layers = nn.Sequential(*layers)
        self.last_bn = nn.BatchNorm2d(c_prev)
        self.classifier = nn.Linear(c_prev, CLASSES)

    def forward(self, x):
        x = self.stem_bn(self.stem_conv(x))
        x = self.layers(x)
        x = F.relu(self.last_bn(x))
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.classifier(x)


TRAIN_CONFIGS = ["default", "channels_last", "channels_last_set_to_none"]
INFER_CONFIGS = ["eager", "eager_channels_last", "mkldnn", "jit_frozen", "jit_frozen_channels_last", "jit_onednn_fusion"]
CONFIGS = {"train": TRAIN_CONFIGS, "infer": INFER_CONFIGS}


def load_module(path):
    """The network of an export_pytorch file, with its exported weights."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("nas_export_%d" % abs(hash(path)), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load()


def relink(model):
    """An export_pytorch module calls its layers through a dict of paths (model._leaf);
    after a conversion that replaces submodules (to_mkldnn) the dict must point at the new ones."""
    leaf = getattr(model, "_leaf", None)
    if leaf is not None:
        for path in list(leaf):
            leaf[path] = model.get_submodule(path)
    return model


class Trainer:
    """One training configuration: its own model copy, optimizer and input."""

    def __init__(self, base, config, x, y):
        channels_last = config.startswith("channels_last")
        self.model = copy.deepcopy(base).train()
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
            x = x.contiguous(memory_format=torch.channels_last)
        self.x, self.y = x, y
        # set_to_none=False keeps the gradient buffers from step to step (nas keeps its
        # own); True frees them and lets backward() allocate them again, which is
        # PyTorch 2's default and saves the zero fill.
        self.set_to_none = config.endswith("set_to_none")
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)

    def step(self):
        self.opt.zero_grad(set_to_none=self.set_to_none)
        loss = F.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()


class Inferer:
    """One inference configuration at one batch size. BatchNorm is folded into the
    convolutions by torch.jit.freeze (jit_* configurations); eager and mkldnn run it as
    its own layer."""

    def __init__(self, base, config, x):
        model = copy.deepcopy(base).eval()
        self.context = torch.no_grad
        if config == "eager":
            self.fn, self.x = model, x
        elif config == "eager_channels_last":
            self.fn = model.to(memory_format=torch.channels_last)
            self.x = x.contiguous(memory_format=torch.channels_last)
            self.context = torch.inference_mode
        elif config == "mkldnn":
            from torch.utils import mkldnn

            with torch.no_grad():
                converted = relink(mkldnn.to_mkldnn(model))
            self.fn = lambda t: converted(t.to_mkldnn())
            self.x = x
        elif config in ("jit_frozen", "jit_frozen_channels_last", "jit_onednn_fusion"):
            if config != "jit_frozen":
                model = model.to(memory_format=torch.channels_last)
                x = x.contiguous(memory_format=torch.channels_last)
            fusion = config == "jit_onednn_fusion"
            torch.jit.enable_onednn_fusion(fusion)
            try:
                with torch.no_grad():
                    traced = torch.jit.trace(model, x)
                    frozen = torch.jit.freeze(traced)
                    # optimize_for_inference converts to oneDNN's blocked layout between
                    # convolutions; the oneDNN graph fuser wants the frozen graph as it is.
                    self.fn = frozen if fusion else torch.jit.optimize_for_inference(frozen)
                    for _ in range(3):  # the profiling executor specialises in the first calls
                        self.fn(x)
            finally:
                torch.jit.enable_onednn_fusion(False)
            self.x = x
        else:
            raise ValueError("inference configuration '%s' (expected one of %s)" % (config, ", ".join(INFER_CONFIGS)))
        self.fusion = config == "jit_onednn_fusion"

    def step(self):
        if self.fusion:
            torch.jit.enable_onednn_fusion(True)
        try:
            with self.context():
                self.fn(self.x)
        finally:
            if self.fusion:
                torch.jit.enable_onednn_fusion(False)


class Bench:
    def __init__(self, n=None, c=None, arch=None, module_file=None):
        torch.manual_seed(0)
        self.model = load_module(module_file) if module_file else TinyNetwork(n, c, arch)
        self.opt = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.x = torch.randn(BATCH, IN_CHANNELS, IMAGE, IMAGE)
        self.y = torch.randint(0, CLASSES, (BATCH,))
        self.params = sum(p.numel() for p in self.model.parameters())
        self.prepared = {}

    def train_step(self):
        self.opt.zero_grad(set_to_none=False)
        loss = F.cross_entropy(self.model(self.x), self.y)
        loss.backward()
        self.opt.step()

    def infer_step(self):
        with torch.no_grad():
            self.model(self.x)

    def prepare(self, mode, config, batch=BATCH):
        """The step function of a configuration, made once per (mode, config, batch)."""
        key = (mode, config, batch)
        if key not in self.prepared:
            if mode == "train" and config == "default" and batch == BATCH:
                self.prepared[key] = self.train_step
            elif mode == "infer" and config == "eager" and batch == BATCH:
                self.prepared[key] = self.infer_step
            elif mode == "train":
                if config not in TRAIN_CONFIGS:
                    raise ValueError("training configuration '%s' (expected one of %s)" % (config, ", ".join(TRAIN_CONFIGS)))
                x = torch.randn(batch, IN_CHANNELS, IMAGE, IMAGE)
                y = torch.randint(0, CLASSES, (batch,))
                self.prepared[key] = Trainer(self.model, config, x, y).step
            elif mode == "infer":
                self.prepared[key] = Inferer(self.model, config, torch.randn(batch, IN_CHANNELS, IMAGE, IMAGE)).step
            else:
                raise ValueError("mode '%s' (expected train or infer)" % mode)
            self.prepared[key]()  # a configuration that builds but cannot run fails here, in prepare
        return self.prepared[key]

    def run(self, mode, steps, repeats, config=None, batch=BATCH):
        if mode == "train":
            self.model.train()
        elif mode == "infer":
            self.model.eval()
        step = self.prepare(mode, config or CONFIGS.get(mode, ["?"])[0], batch)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            c0 = time.process_time()
            for _ in range(steps):
                step()
            times.append((time.perf_counter() - t0, time.process_time() - c0))
        return times

    def latency(self, config, calls):
        """Wall seconds of each of `calls` single-image inference calls."""
        self.model.eval()
        step = self.prepare("infer", config, 1)
        out = []
        for _ in range(calls):
            t0 = time.perf_counter()
            step()
            out.append(time.perf_counter() - t0)
        return out


def max_rss_kib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def serve():
    benches = {}
    out = sys.stdout
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        try:
            cmd = words[0]
            if cmd == "quit":
                break
            if cmd == "build":
                key, n, c, arch = words[1], int(words[2]), int(words[3]), words[4]
                benches[key] = Bench(n, c, arch)
                reply = "ok params %d" % benches[key].params
            elif cmd == "load":
                key, path = words[1], words[2]
                benches[key] = Bench(module_file=path)
                reply = "ok params %d" % benches[key].params
            elif cmd == "configs":
                reply = "ok " + " ".join(CONFIGS[words[1]])
            elif cmd == "prepare":
                key, mode, config, batch = words[1], words[2], words[3], int(words[4])
                benches[key].prepare(mode, config, batch)
                reply = "ok"
            elif cmd == "run":
                key, mode, threads, steps, repeats = words[1], words[2], int(words[3]), int(words[4]), int(words[5])
                config = words[6] if len(words) > 6 else None
                batch = int(words[7]) if len(words) > 7 else BATCH
                torch.set_num_threads(threads)
                times = benches[key].run(mode, steps, repeats, config, batch)
                reply = "ok " + " ".join("%.9f %.9f" % t for t in times)
            elif cmd == "lat":
                key, config, threads, calls = words[1], words[2], int(words[3]), int(words[4])
                torch.set_num_threads(threads)
                reply = "ok " + " ".join("%.9f" % t for t in benches[key].latency(config, calls))
            elif cmd == "rss":
                reply = "ok %d" % max_rss_kib()
            elif cmd == "version":
                reply = "ok %s" % torch.__version__
            else:
                reply = "error unknown command '%s'" % cmd
        except Exception as e:  # the parent reads the reason and stops cleanly
            reply = "error %s: %s" % (type(e).__name__, str(e).replace("\n", " "))
        out.write(reply + "\n")
        out.flush()


def rss_only(bench_factory, threads, steps):
    torch.set_num_threads(threads)
    base = max_rss_kib()  # the interpreter and the torch library, before any model exists
    bench = bench_factory()
    bench.run("train", steps, 1)
    print("params %d rss_kib %d base_kib %d" % (bench.params, max_rss_kib(), base))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--rss":
        n, c, arch = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
        rss_only(lambda: Bench(n, c, arch), int(sys.argv[5]), int(sys.argv[6]))
    elif len(sys.argv) > 1 and sys.argv[1] == "--rss-module":
        path = sys.argv[2]
        rss_only(lambda: Bench(module_file=path), int(sys.argv[3]), int(sys.argv[4]))
    else:
        serve()
