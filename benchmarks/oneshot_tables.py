#!/usr/bin/python3
"""Markdown tables for benchmarks/reports/oneshot.md from the CSV files oneshot_ranking writes.

Adds to oneshot_ranking's own summary (oneshot_ranking.csv, over every cell of the
sample) the same statistics without the cells whose stand-alone network cannot learn
(validation accuracy at chance, 10%: the cell's output is identically zero), which any
scorer ranks last and which would otherwise flatter every correlation.

    oneshot_tables.py benchmarks/reports
"""
import csv
import math
import os
import sys


def ranks(v):
    order = sorted(range(len(v)), key=lambda i: v[i])
    r = [0.0] * len(v)
    k = 0
    while k < len(order):
        end = k
        while end < len(order) and v[order[end]] == v[order[k]]:
            end += 1
        for q in range(k, end):
            r[order[q]] = (k + 1 + end) / 2.0
        k = end
    return r


def spearman(a, b):
    ra, rb = ranks(a), ranks(b)
    n = len(a)
    m = (n + 1) / 2.0
    sab = sum((x - m) * (y - m) for x, y in zip(ra, rb))
    saa = sum((x - m) ** 2 for x in ra)
    sbb = sum((y - m) ** 2 for y in rb)
    return sab / math.sqrt(saa * sbb) if saa > 0 and sbb > 0 else 0.0


def kendall(a, b):  # tau-b, as nas::kendall_tau
    c = d = ta = tb = 0
    n = len(a)
    for i in range(n):
        for j in range(i + 1, n):
            da, db = a[i] - a[j], b[i] - b[j]
            ta += da == 0
            tb += db == 0
            if da == 0 or db == 0:
                continue
            if (da > 0) == (db > 0):
                c += 1
            else:
                d += 1
    n0 = n * (n - 1) / 2
    den = math.sqrt((n0 - ta) * (n0 - tb))
    return (c - d) / den if den > 0 else 0.0


def main(out):
    sa = {r["arch"]: float(r["valid_accuracy"]) for r in csv.DictReader(open(os.path.join(out, "oneshot_standalone.csv")))}
    nb = {}
    scores = {}
    for r in csv.DictReader(open(os.path.join(out, "oneshot_scores.csv"))):
        scores.setdefault(r["config"], {})[r["arch"]] = float(r["score"])
    costs = {r["config"]: r for r in csv.DictReader(open(os.path.join(out, "oneshot_costs.csv")))}
    summary = {r["config"]: r for r in csv.DictReader(open(os.path.join(out, "oneshot_ranking.csv")))}
    archs = list(sa)
    live = [a for a in archs if sa[a] > 10.5]
    print("| configuration | tau vs stand-alone (all %d) | rho vs stand-alone (all) | tau vs stand-alone (%d learnable) | "
          "rho (%d learnable) | tau vs NB201 CIFAR-10 (all) | rho vs NB201 (all) | top-%s overlap, stand-alone / NB201 | "
          "supernet training s | few-shot training s | scoring s (%d cells) |" % (len(archs), len(live), len(live), "k", len(archs)))
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for name, row in summary.items():
        s = scores[name]
        x = [s[a] for a in live]
        y = [sa[a] for a in live]
        print("| %s | %.3f | %.3f | %.3f | %.3f | %.3f | %.3f | %.1f / %.1f | %.0f | %.0f | %.0f |" % (
            name, float(row["kendall_tau_standalone"]), float(row["spearman_rho_standalone"]), kendall(x, y), spearman(x, y),
            float(row["kendall_tau_nb201"]), float(row["spearman_rho_nb201"]), float(row["top10_overlap_standalone"]),
            float(row["top10_overlap_nb201"]), float(row["supernet_train_seconds"]), float(row["fewshot_train_seconds"]),
            float(row["scoring_seconds"])))
    print()
    print("learnable cells: %d of %d; stand-alone accuracy %.1f-%.1f%%" % (len(live), len(archs), min(sa[a] for a in live),
                                                                          max(sa[a] for a in live)))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "benchmarks/reports")
