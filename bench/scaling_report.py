#!/usr/bin/python3
"""bench/scaling_report.py LIST OUT COMMAND: the combined table, fits and plots of bench/scaling.sh.

LIST has one line per `sso bench` run: "ccds PATH.json" or "vmax PATH.json". Fits (numpy least
squares, each point weighted equally):
  - CCD series: total time and each stage against N CCDs, t = a + b N (expected: linear, the
    intercept small); the departure is reported per point as measured / fitted;
  - vmax series: stack time against vmax, stack = c0 + c2 vmax^2 (expected: quadratic, as the
    velocity grid), and the log-log slope between the smallest and largest vmax (2 when the
    quadratic term dominates); the stack's samples against vmax the same way.
Writes OUT/scaling-<backend>-<tag>-<date>.{md,json} and the PNGs ...-ccds.png, ...-vmax.png.
"""
import json
import math
import os
import shutil
import subprocess
import sys

import numpy as np


def load(list_path):
    runs = {"ccds": [], "vmax": []}
    for line in open(list_path):
        kind, path = line.split()
        j = json.load(open(path))
        j["_path"] = path
        j["_st"] = {s["name"]: s["median_s"] for s in j["stages"]}
        runs[kind].append(j)
    runs["ccds"].sort(key=lambda j: j["config"]["n_ccds"])
    runs["vmax"].sort(key=lambda j: j["config"]["vmax_arcsec_h"])
    return runs


def fit(x, y, powers):
    A = np.vstack([np.asarray(x, float) ** p for p in powers]).T
    c, *_ = np.linalg.lstsq(A, np.asarray(y, float), rcond=None)
    return c, A @ c


def main(list_path, out, command):
    runs = load(list_path)
    allr = runs["ccds"] + runs["vmax"]
    if not allr:
        sys.exit("scaling_report: no runs")
    first = allr[0]
    tag, backend = first["machine"]["tag"], first["config"]["backend_used"]
    date = max(j["date"][:10] for j in allr)  # the newest run's: a series may add a point later
    base = os.path.join(out, f"scaling-{backend}-{tag}-{date}")
    res = {"command": command, "machine": first["machine"], "ccds": [], "vmax": [], "fits": {}}
    md = [f"# sso scaling ({backend}, {tag}, {date})\n", f"`{command}`\n",
          f"- machine: {first['machine']['cpu']}, {first['machine']['cores']} cores, {first['machine']['mem_gib']} GiB; "
          f"git {first['machine']['git_commit']}; {first['config']['repeats']} repeat(s) per point (median)",
          "- load average (1 min) at start -> end of each run is in the table: this machine is shared, figures are noisy\n"]
    c = runs["ccds"]
    if c:
        n = [j["config"]["n_ccds"] for j in c]
        tot = [j["total_s"] for j in c]
        md.append(f"## Time against CCDs ({c[0]['config']['ccd_width_px']}x{c[0]['config']['ccd_height_px']} px each, "
                  f"vmax {c[0]['config']['vmax_arcsec_h']}\"/h)\n")
        md.append("| CCDs | Mpx | total [s] | fit a+bN [s] | measured/fit | stack [s] | resample [s] | likelihood [s] | "
                  "Mpx/s | peak RSS [MiB] | patch buffers peak [MiB] | files | load |")
        md.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
        cf, pred = fit(n, tot, [0, 1]) if len(n) >= 2 else (np.array([0.0, tot[0]]), np.array(tot))
        for j, p in zip(c, pred):
            st = j["_st"]
            row = {"n_ccds": j["config"]["n_ccds"], "mpx": j["counts"]["detector_px"] / 1e6, "total_s": j["total_s"],
                   "fit_s": float(p), "stages": st, "mpx_per_s": j["throughput"]["mpx_per_s"],
                   "peak_rss_mib": j["memory"]["host_peak_rss_mib"],
                   "patch_peak_mib": j["memory"].get("patch_buffers_peak_mib"),
                   "compressed": bool(j["config"].get("data_compressed", False)), "load": [j["load_avg"]["start"][0], j["load_avg"]["end"][0]],
                   "json": j["_path"]}
            res["ccds"].append(row)
            md.append(f"| {row['n_ccds']} | {row['mpx']:.1f} | {row['total_s']:.2f} | {p:.2f} | {row['total_s'] / p:.2f} | "
                      f"{st['stack']:.2f} | {st['resample']:.2f} | {st['likelihood']:.2f} | {row['mpx_per_s']:.2f} | "
                      f"{row['peak_rss_mib']:.0f} | "
                      + (f"{row['patch_peak_mib']:.0f}" if row["patch_peak_mib"] is not None else "n/a")
                      + f" | {'RICE_1' if row['compressed'] else 'plain'} | {row['load'][0]:.1f}->{row['load'][1]:.1f} |")
        res["fits"]["total_vs_ccds"] = {"a_s": float(cf[0]), "b_s_per_ccd": float(cf[1])}
        md.append(f"\nFit: total = {cf[0]:.2f} s + {cf[1]:.2f} s x N. Per-CCD time at each point "
                  + ", ".join(f"N={r['n_ccds']}: {r['total_s'] / r['n_ccds']:.2f} s" for r in res["ccds"])
                  + " (constant when linear).\n")
    v = runs["vmax"]
    if v:
        vm = [j["config"]["vmax_arcsec_h"] for j in v]
        sk = [j["_st"]["stack"] for j in v]
        smp = [j["counts"]["stack_samples"] for j in v]
        md.append(f"## Stack time against vmax ({v[0]['config']['n_ccds']} CCD of {v[0]['config']['ccd_width_px']}x"
                  f"{v[0]['config']['ccd_height_px']} px)\n")
        md.append("| vmax [\"/h] | stack [s] | fit c0+c2 v^2 [s] | measured/fit | samples | samples/s | other stages [s] | load |")
        md.append("|---:|---:|---:|---:|---:|---:|---:|---|")
        cq, pq = fit(vm, sk, [0, 2]) if len(vm) >= 2 else (np.array([0.0, sk[0] / vm[0] ** 2]), np.array(sk))
        for j, p in zip(v, pq):
            st = j["_st"]
            other = sum(st.values()) - st["stack"]
            row = {"vmax": j["config"]["vmax_arcsec_h"], "stack_s": st["stack"], "fit_s": float(p),
                   "samples": j["counts"]["stack_samples"], "samples_per_s": j["throughput"]["stack_samples_per_s"],
                   "other_s": other, "load": [j["load_avg"]["start"][0], j["load_avg"]["end"][0]], "json": j["_path"]}
            res["vmax"].append(row)
            md.append(f"| {row['vmax']:g} | {row['stack_s']:.2f} | {p:.2f} | {row['stack_s'] / p:.2f} | {row['samples']:.3g} | "
                      f"{row['samples_per_s']:.3g} | {other:.2f} | {row['load'][0]:.1f}->{row['load'][1]:.1f} |")
        slope_t = slope_s = None
        if len(vm) >= 2 and sk[0] > 0 and smp[0] > 0:
            slope_t = math.log(sk[-1] / sk[0]) / math.log(vm[-1] / vm[0])
            slope_s = math.log(smp[-1] / smp[0]) / math.log(vm[-1] / vm[0])
        res["fits"]["stack_vs_vmax"] = {"c0_s": float(cq[0]), "c2_s_per_vmax2": float(cq[1]),
                                        "loglog_slope_time": slope_t, "loglog_slope_samples": slope_s}
        fmt = lambda x: "n/a" if x is None else f"{x:.2f}"
        md.append(f"\nFit: stack = {cq[0]:.2f} s + {cq[1]:.4f} s x vmax^2. Log-log slope from {vm[0]:g} to {vm[-1]:g}\"/h: "
                  f"time {fmt(slope_t)}, samples {fmt(slope_s)} (2 = quadratic; below 2 where the fixed costs of the "
                  f"stack, or the coverage skip at the patch edges, weigh in).\n")
    with open(base + ".json", "w") as f:
        json.dump(res, f, indent=1)
    with open(base + ".md", "w") as f:
        f.write("\n".join(md) + "\n")
    plot(base, res)
    print(base + ".md")
    print(open(base + ".md").read(), file=sys.stderr)


def plot(base, res):
    gp = shutil.which("gnuplot")
    if not gp:
        print("scaling_report: gnuplot missing (apt-get install gnuplot-nox): no PNG", file=sys.stderr)
        return
    term = ("if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) { set terminal pngcairo size 900,600 font ',10' } "
            "else { set terminal png size 900,600 }\n")
    if res["ccds"]:
        a, b = res["fits"]["total_vs_ccds"]["a_s"], res["fits"]["total_vs_ccds"]["b_s_per_ccd"]
        data = "\n".join(f"{r['n_ccds']} {r['total_s']} {r['stages']['stack']} {r['stages']['resample']} "
                         f"{r['stages']['likelihood']}" for r in res["ccds"])
        s = (f"$d << EOD\n{data}\nEOD\n{term}set output '{base}-ccds.png'\n"
             "set title 'sso: time per quartet against CCDs (median)'; set xlabel 'CCDs'; set ylabel 'time [s]'\n"
             "set grid; set key top left; set xrange [0:*]; set yrange [0:*]\n"
             f"plot $d u 1:2 w lp pt 7 lw 2 t 'total', {a}+{b}*x w l dt 2 lc 'gray' t 'fit a+bN', "
             "$d u 1:3 w lp pt 5 t 'stack', $d u 1:4 w lp pt 9 t 'resample', $d u 1:5 w lp pt 11 t 'likelihood'\n"
             "set output\n")
        subprocess.run([gp], input=s.encode(), check=False)
    if res["vmax"]:
        c0, c2 = res["fits"]["stack_vs_vmax"]["c0_s"], res["fits"]["stack_vs_vmax"]["c2_s_per_vmax2"]
        data = "\n".join(f"{r['vmax']} {r['stack_s']} {r['other_s']}" for r in res["vmax"])
        s = (f"$d << EOD\n{data}\nEOD\n{term}set output '{base}-vmax.png'\n"
             "set title 'sso: slow-search (stack) time against vmax (median)'; set xlabel 'vmax [\"/h]'\n"
             "set ylabel 'time [s]'; set grid; set key top left; set xrange [0:*]; set yrange [0:*]\n"
             f"plot $d u 1:2 w lp pt 7 lw 2 t 'stack', {c0}+{c2}*x**2 w l dt 2 lc 'gray' t 'fit c0+c2 vmax^2', "
             "$d u 1:3 w lp pt 5 t 'all other stages'\nset output\n")
        subprocess.run([gp], input=s.encode(), check=False)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
