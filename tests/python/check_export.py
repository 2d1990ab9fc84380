#!/usr/bin/python3
"""Runs nas's export_pytorch for an NB201 cell and a DARTS genotype and checks that the
exported torch.nn module, loaded with torch alone, gives nas's logits (evaluation and
training mode) within 1e-4.

    check_export.py EXPORTER WORK_DIR

Exits 77 (ctest's SKIP_RETURN_CODE) when torch cannot be imported.
"""
import importlib.util
import os
import subprocess
import sys

try:
    import torch
except ImportError as e:
    print("check_export: skipped, torch cannot be imported (%s); apt-get install python3-torch" % e)
    sys.exit(77)

CASES = [
    ("nb201", "|nor_conv_3x3~0|+|avg_pool_3x3~0|skip_connect~1|+|nor_conv_1x1~0|none~1|nor_conv_3x3~2|",
     ["--channels", "4", "--cells", "1", "--size", "16"]),
    ("darts", "Genotype(normal=[('sep_conv_3x3', 0), ('skip_connect', 1), ('dil_conv_3x3', 0), ('max_pool_3x3', 2), "
              "('sep_conv_5x5', 1), ('avg_pool_3x3', 3), ('dil_conv_5x5', 2), ('none', 4)], normal_concat=range(2, 6), "
              "reduce=[('max_pool_3x3', 0), ('skip_connect', 1), ('avg_pool_3x3', 0), ('sep_conv_3x3', 2), "
              "('dil_conv_3x3', 1), ('skip_connect', 3), ('sep_conv_5x5', 0), ('dil_conv_5x5', 4)], reduce_concat=range(2, 6))",
     ["--channels", "4", "--cells", "5", "--size", "16"]),
]


def load_module(path):
    spec = importlib.util.spec_from_file_location("exported_" + os.path.basename(os.path.dirname(path)), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def max_error(a, b):
    return (a - b).abs().max().item() / max(1.0, b.abs().max().item())


def main():
    exporter, work = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    failures = 0
    for space, arch, extra in CASES:
        out = os.path.join(work, space)
        subprocess.run([exporter, "--space", space, "--arch", arch, "--out", out] + extra, check=True)
        module = load_module(os.path.join(out, "network.py"))
        model = module.load()
        check = module.load_tensors(os.path.join(out, "check.tensors"))
        x = check["input"]
        with torch.no_grad():
            model.eval()
            e_eval = max_error(model(x), check["eval_logits"])
            model.train()
            e_train = max_error(model(x), check["train_logits"])
        ok = e_eval < 1e-4 and e_train < 1e-4
        failures += 0 if ok else 1
        print("%s: %d parameters, evaluation error %.2e, training error %.2e: %s"
              % (space, sum(p.numel() for p in model.parameters()), e_eval, e_train, "ok" if ok else "MISMATCH"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
