#!/usr/bin/python3
"""bench/sextractor_link.py: the SExtractor-catalogue linking baseline (bench/sextractor_baseline.sh).

Three subcommands:
  split DATA WORK      one SCI/RMS/FLG triplet of single-HDU FITS files per exposure and detector
                       (source-extractor wants the weight and flag maps as separate images), plus
                       WORK/exposures.txt: "sci rms flg zeropoint mjd_mid" per line. The zero point
                       is MAGZEROP + 2.5 log10(EXPTIME) (MAGZEROP is for 1 ADU/s). Not timed.
  link WORK OUT.jsonl  reads the catalogues WORK/*.cat, removes stationary sources and links the
                       rest into constant-rate tracks over >= 3 of the 4 epochs; writes them as sso
                       alerts (alerts.jsonl format, so `sso score` scores them like sso's own).
  compare ...          the ratios (time, depth) from the two scores and the two timings.

Linking (a deliberately simple, honest baseline):
  - per detection: SNR = FLUX_AUTO / FLUXERR_AUTO >= --snr-min (4), no SExtractor FLAGS >= 4
    (saturated, truncated, ...), no flagged pixel (IMAFLAGS_ISO) among the FLG bits that mark bad
    data or cosmic rays (INVALID, HOT, COLD, SAT, COSMIC, GHOST, BAD_COLUMN, BAD_CLUSTER, CR_REGION);
  - positions on one tangent plane (gnomonic, centred on the mean position) in arcsec;
  - stationary: a detection with a counterpart within --r-static (0.25") in >= 2 of the 3 other
    epochs is a fixed source and is dropped (a mover must be slower than ~0.4"/h to survive that);
  - every pair of detections in two epochs, at most vmax * dt + tol apart, defines a rate; the
    other epochs are searched within --tol (0.3") of the prediction; tracks with >= 3 epochs are
    refitted (least squares, constant rate) and kept when their rms residual is <= tol and their
    rate in [0.3, vmax]; tracks are then taken greedily (more epochs, then smaller residual) so
    that a detection belongs to one track.
"""
import glob
import hashlib
import json
import math
import os
import sys

import numpy as np

BAD_FLG = (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9)


def split(data, work):
    from astropy.io import fits
    os.makedirs(work, exist_ok=True)
    files = sorted(f for f in glob.glob(os.path.join(data, "*.fits")) if not os.path.basename(f).startswith("bench"))
    if len(files) != 4:
        sys.exit(f"sextractor_link: {data}: want 4 exposure files, found {len(files)}")
    lines = []
    for ei, path in enumerate(files):
        with fits.open(path) as h:
            p0 = h[0].header
            dets = sorted({x.name.rsplit(".", 1)[0] for x in h[1:] if x.name.endswith(".SCI")})
            for det in dets:
                sci = h[det + ".SCI"]
                zp = float(sci.header["MAGZEROP"]) + 2.5 * math.log10(float(sci.header["EXPTIME"]))
                mjd = float(sci.header.get("MJD-OBS", p0["MJD-OBS"])) + float(sci.header["EXPTIME"]) / 2 / 86400
                base = os.path.join(work, f"e{ei + 1}_{det}")
                for plane in ("SCI", "RMS", "FLG"):
                    hdu = h[det + "." + plane]
                    fits.PrimaryHDU(hdu.data, hdu.header).writeto(f"{base}.{plane.lower()}.fits", overwrite=True)
                lines.append(f"{base}.sci.fits {base}.rms.fits {base}.flg.fits {zp:.6f} {mjd:.9f} {ei + 1} {det}")
    with open(os.path.join(work, "exposures.txt"), "w") as f:
        f.write("\n".join(lines) + "\n")


def read_cat(path):
    cols, rows = [], []
    for line in open(path):
        if line.startswith("#"):
            cols.append(line.split()[2])
        elif line.strip():
            rows.append([float(v) for v in line.split()])
    a = np.array(rows, dtype=float).reshape(-1, len(cols))
    return {c: a[:, i] for i, c in enumerate(cols)}


def iso(mjd):
    import datetime
    t = datetime.datetime(1858, 11, 17) + datetime.timedelta(days=mjd)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def link(work, out, vmax, snr_min, r_static, tol, obs_id):
    ep = {}
    for line in open(os.path.join(work, "exposures.txt")):
        sci, _, _, zp, mjd, e, det = line.split()
        cat = read_cat(sci.replace(".sci.fits", ".cat"))
        n = len(cat["NUMBER"])
        snr = np.where(cat["FLUXERR_AUTO"] > 0, cat["FLUX_AUTO"] / np.maximum(cat["FLUXERR_AUTO"], 1e-30), 0)
        keep = (snr >= snr_min) & (cat["FLAGS"] < 4) & ((cat["IMAFLAGS_ISO"].astype(np.int64) & BAD_FLG) == 0)
        d = ep.setdefault(int(e), {"mjd": float(mjd), "ra": [], "dec": [], "mag": [], "magerr": [], "snr": [],
                                   "x": [], "y": [], "det": []})
        for k, v in (("ra", cat["ALPHA_J2000"]), ("dec", cat["DELTA_J2000"]), ("mag", cat["MAG_AUTO"]),
                     ("magerr", cat["MAGERR_AUTO"]), ("snr", snr), ("x", cat["X_IMAGE"]), ("y", cat["Y_IMAGE"])):
            d[k].extend(v[keep].tolist())
        d["det"].extend([det] * int(keep.sum()))
        del n
    es = sorted(ep)
    if len(es) != 4:
        sys.exit("sextractor_link: want 4 epochs of catalogues")
    ra0 = np.mean(np.concatenate([ep[e]["ra"] for e in es]))
    dec0 = np.mean(np.concatenate([ep[e]["dec"] for e in es]))
    mjd_mean = np.mean([ep[e]["mjd"] for e in es])
    r0, d0 = math.radians(ra0), math.radians(dec0)
    for e in es:
        d = ep[e]
        for k in list(d):
            if k not in ("mjd", "det"):
                d[k] = np.asarray(d[k], dtype=float)
        ra, de = np.radians(d["ra"]), np.radians(d["dec"])
        cosc = math.sin(d0) * np.sin(de) + math.cos(d0) * np.cos(de) * np.cos(ra - r0)
        d["xi"] = np.degrees(np.cos(de) * np.sin(ra - r0) / cosc) * 3600
        d["eta"] = np.degrees((math.cos(d0) * np.sin(de) - math.sin(d0) * np.cos(de) * np.cos(ra - r0)) / cosc) * 3600
        d["t"] = (d["mjd"] - mjd_mean) * 24.0
    n_in = sum(len(ep[e]["xi"]) for e in es)

    def grid(d, cell):
        g = {}
        for i, (x, y) in enumerate(zip(d["xi"], d["eta"])):
            g.setdefault((int(math.floor(x / cell)), int(math.floor(y / cell))), []).append(i)
        return g

    def near(d, g, cell, x, y, r):
        out = []
        cx, cy, k = int(math.floor(x / cell)), int(math.floor(y / cell)), int(math.ceil(r / cell))
        for i in range(cx - k, cx + k + 1):
            for j in range(cy - k, cy + k + 1):
                for n in g.get((i, j), ()):
                    if (d["xi"][n] - x) ** 2 + (d["eta"][n] - y) ** 2 <= r * r:
                        out.append(n)
        return out

    # stationary sources
    cell = 1.0
    grids = {e: grid(ep[e], cell) for e in es}
    for e in es:
        d = ep[e]
        static = np.zeros(len(d["xi"]), bool)
        for i in range(len(d["xi"])):
            hits = sum(1 for f in es if f != e and near(ep[f], grids[f], cell, d["xi"][i], d["eta"][i], r_static))
            static[i] = hits >= 2
        d["static"] = static
    for e in es:
        d = ep[e]
        keep = ~d["static"]
        for k in list(d):
            if isinstance(d[k], np.ndarray) and k != "static":
                d[k] = d[k][keep]
        d["det"] = [x for x, s in zip(d["det"], keep) if s]
        del d["static"]
    n_moving = sum(len(ep[e]["xi"]) for e in es)
    cell = 2.0
    grids = {e: grid(ep[e], cell) for e in es}

    # pairs -> predicted tracks
    tracks = {}
    for a in range(4):
        for b in range(a + 1, 4):
            ea, eb = es[a], es[b]
            da, db = ep[ea], ep[eb]
            dt = db["t"] - da["t"]
            for i in range(len(da["xi"])):
                for j in near(db, grids[eb], cell, da["xi"][i], da["eta"][i], vmax * dt + tol):
                    vx = (db["xi"][j] - da["xi"][i]) / dt
                    vy = (db["eta"][j] - da["eta"][i]) / dt
                    members = {ea: i, eb: j}
                    for e in es:
                        if e in members:
                            continue
                        d = ep[e]
                        px = da["xi"][i] + vx * (d["t"] - da["t"])
                        py = da["eta"][i] + vy * (d["t"] - da["t"])
                        c = near(d, grids[e], cell, px, py, tol)
                        if c:
                            members[e] = min(c, key=lambda n: (d["xi"][n] - px) ** 2 + (d["eta"][n] - py) ** 2)
                    if len(members) < 3:
                        continue
                    key = tuple(sorted(members.items()))
                    if key in tracks:
                        continue
                    t = np.array([ep[e]["t"] for e, _ in key])
                    x = np.array([ep[e]["xi"][n] for e, n in key])
                    y = np.array([ep[e]["eta"][n] for e, n in key])
                    A = np.vstack([np.ones_like(t), t]).T
                    cx, *_ = np.linalg.lstsq(A, x, rcond=None)
                    cy, *_ = np.linalg.lstsq(A, y, rcond=None)
                    res = np.sqrt(np.mean((A @ cx - x) ** 2 + (A @ cy - y) ** 2))
                    rate = math.hypot(cx[1], cy[1])
                    if res <= tol and 0.3 <= rate <= vmax:
                        tracks[key] = (res, cx, cy, rate)
    used = set()
    chosen = []
    for key, (res, cx, cy, rate) in sorted(tracks.items(), key=lambda kv: (-len(kv[0]), kv[1][0])):
        if any(m in used for m in key):
            continue
        used.update(key)
        chosen.append((key, res, cx, cy, rate))

    obs_digits = str(int(obs_id)) if obs_id.isdigit() else obs_id
    with open(out + ".tmp", "w") as f:
        for key, res, cx, cy, rate in chosen:
            h = hashlib.sha1(repr(key).encode()).hexdigest()[:16]
            pa = math.degrees(math.atan2(cx[1], cy[1])) % 360.0
            obs = []
            snr2 = 0.0
            for e, n in key:
                d = ep[e]
                snr2 += d["snr"][n] ** 2
                obs.append({"obsTime": iso(d["mjd"]), "mjd": d["mjd"], "ra": float(d["ra"][n]), "dec": float(d["dec"][n]),
                            "rmsRA": 0.1 / 3600, "rmsDec": 0.1 / 3600, "mag": float(d["mag"][n]),
                            "rmsMag": float(abs(d["magerr"][n])), "band": "VIS", "snr": float(d["snr"][n]),
                            "exp": 566, "det": d["det"][n], "x": float(d["x"][n]), "y": float(d["y"][n])})
            a = {"schema": "sso-alert/1.0", "kind": "alert", "alert_id": f"{obs_digits}-{h}", "seq": 0, "revision": 0,
                 "boot_id": "sextractor-baseline", "time": "2026-01-01T00:00:00.000000Z", "role": "test",
                 "obs_id": obs_digits, "class": "slow", "n_epochs": len(obs), "trkSub": "X" + h[:7], "stn": "",
                 "mode": "CCD", "score": math.sqrt(snr2),
                 "motion": {"rate": rate, "rateUnc": 0.1, "pa": pa, "paUnc": 1.0}, "obs": obs}
            f.write(json.dumps(a) + "\n")
    os.replace(out + ".tmp", out)
    print(f"sextractor_link: {n_in} detections kept (SNR >= {snr_min}, unflagged), {n_moving} not stationary, "
          f"{len(tracks)} candidate tracks, {len(chosen)} linked (>= 3 epochs) -> {out}", file=sys.stderr)


def reachable_by_mag(truth, bins):
    """Slow movers of truth.csv on a detector in >= 3 epochs (the ones either method can find), per
    magnitude bin [lo, hi)."""
    import csv
    on, mag = {}, {}
    for r in csv.DictReader(open(truth)):
        if r["class"] != "slow":
            continue
        mag[r["id"]] = float(r["mag"])
        on[r["id"]] = on.get(r["id"], 0) + (1 if r["det"] else 0)
    return [sum(1 for i in on if on[i] >= 3 and lo <= mag[i] < hi) for lo, hi in bins]


def compare(score_sso, score_sex, times, out_md, out_json, truth):
    s1, s2 = json.load(open(score_sso)), json.load(open(score_sex))
    t = json.load(open(times))
    rows = []
    for b1, b2 in zip(s1["slow"]["by_mag"], s2["slow"]["by_mag"]):
        if b1["n"]:
            rows.append((b1["lo"], b1["hi"], b1["n"], b1["found"], b2["found"]))
    srows = []
    for b1, b2 in zip(s1["slow"]["by_snr"], s2["slow"]["by_snr"]):
        if b1["n"]:
            srows.append((b1["lo"], b1["hi"], b1["n"], b1["found"], b2["found"]))
    reach = reachable_by_mag(truth, [(r[0], r[1]) for r in rows])
    rows = [r + (n3,) for r, n3 in zip(rows, reach)]
    f1, f2 = s1["slow"]["found"], s2["slow"]["found"]
    faint1 = max([r[1] for r in rows if r[3]] or [float("nan")])
    faint2 = max([r[1] for r in rows if r[4]] or [float("nan")])
    sso_cov = t["sso_matched_s"]  # prep + background + cosmic + likelihood: per exposure, like for like
    sso_read = t["sso_stages"].get("read", 0.0)
    res = {
        "sextractor_s": t["sextractor_s"], "sextractor_cpu_s": t["sextractor_cpu_s"], "link_s": t["link_s"],
        "sso_stages_s": t["sso_stages"], "sso_matched_s": sso_cov, "sso_total_s": t["sso_total_s"],
        "sso_backend": t.get("backend", "cpu"), "sso_threads": t.get("threads"),
        "time_ratio_per_exposure": t["sextractor_s"] / sso_cov if sso_cov > 0 else None,
        "time_ratio_per_exposure_with_read": t["sextractor_s"] / (sso_cov + sso_read) if sso_cov + sso_read > 0 else None,
        "time_ratio_background": t["sextractor_s"] / t["sso_stages"]["background"] if t["sso_stages"]["background"] > 0 else None,
        "time_ratio_whole": (t["sextractor_s"] + t["link_s"]) / t["sso_total_s"],
        "slow_movers": s1["slow"]["n"], "found_sso": f1, "found_baseline": f2,
        "depth_ratio_found": f1 / f2 if f2 else None,
        "false_sso": s1["false_alerts"], "false_baseline": s2["false_alerts"],
        "faintest_bin_found_sso": faint1, "faintest_bin_found_baseline": faint2,
        "slow_movers_on_detector_3_epochs": sum(reach),
        "by_mag": [dict(zip(("lo", "hi", "n", "found_sso", "found_baseline", "on_detector_3_epochs"), r)) for r in rows],
        "by_snr": [dict(zip(("lo", "hi", "n", "found_sso", "found_baseline"), r)) for r in srows],
        "machine": t.get("machine", {}), "command": t.get("command", ""), "load_avg": t.get("load_avg", []),
    }
    json.dump(res, open(out_json, "w"), indent=1)
    fmt = lambda v: "n/a" if v is None else f"{v:.2f}"
    with open(out_md, "w") as f:
        f.write(f"# sso against the source-extractor linking baseline ({t.get('tag', '')})\n\n")
        f.write(f"`{t.get('command', '')}`\n\n")
        m = t.get("machine", {})
        f.write(f"- machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores; git {m.get('git_commit', '?')}; "
                f"load average at start/end {t.get('load_avg', [])} (a shared machine: times are noisy)\n")
        f.write(f"- data: {t.get('data', '')}; sso: `sso bench` median stage times, "
                f"backend {t.get('backend', 'cpu')}, {t.get('threads', 2)} threads; source-extractor 2.25, NTHREADS 1, "
                "the 4 x N detector images one after another\n")
        f.write("- like for like: source-extractor does background, matched-filter detection and measurement on "
                "single exposures; sso's per-exposure stages doing that work are prep, background, cosmic rays and "
                "psi/phi (its matched filter; computed on the resampled differences). The whole-chain ratio "
                "compares source-extractor plus the linking script with sso's whole pipeline (open -> alerts, "
                "the shift-and-stack included)\n\n")
        f.write("| time | s |\n|---|---:|\n")
        f.write(f"| source-extractor, all exposures and detectors (wall) | {t['sextractor_s']:.2f} |\n")
        f.write(f"| source-extractor CPU (user+sys) | {t['sextractor_cpu_s']:.2f} |\n")
        f.write(f"| baseline linking (Python) | {t['link_s']:.2f} |\n")
        st = t["sso_stages"]
        f.write(f"| sso read (FITS, all exposures) | {st.get('read', 0.0):.2f} |\n")
        f.write(f"| sso background | {st['background']:.2f} |\n")
        f.write(f"| sso per-exposure stages: prep + background + cosmic + likelihood (psi/phi = matched filter) | {sso_cov:.2f} |\n")
        f.write(f"| sso whole pipeline (open -> alerts) | {t['sso_total_s']:.2f} |\n\n")
        f.write("| ratio | value | target |\n|---|---:|---:|\n")
        f.write(f"| source-extractor / sso per-exposure stages (like for like) | {fmt(res['time_ratio_per_exposure'])}x | >= 10x |\n")
        f.write(f"| source-extractor / sso per-exposure stages + read | {fmt(res['time_ratio_per_exposure_with_read'])}x | |\n")
        f.write(f"| source-extractor / sso background | {fmt(res['time_ratio_background'])}x | |\n")
        f.write(f"| (source-extractor + linking) / sso whole pipeline | {fmt(res['time_ratio_whole'])}x | |\n")
        f.write(f"| slow movers found: sso / baseline | {f1} / {f2} = {fmt(res['depth_ratio_found'])} | > 1 |\n")
        f.write(f"| false alerts: sso / baseline | {s1['false_alerts']} / {s2['false_alerts']} | |\n")
        f.write(f"| faintest magnitude bin with a find (upper edge): sso / baseline | {faint1} / {faint2} | |\n\n")
        f.write("Slow movers (truth rate < 10\"/h) by magnitude: all in truth.csv, those on the detector in >= 3 "
                "epochs (what either method can find: the dithers move the sky ~1,250 px), found by each:\n\n")
        f.write("| mag | n | on detector >= 3 epochs | sso | baseline |\n|---|---:|---:|---:|---:|\n")
        for lo, hi, n, a, b, n3 in rows:
            f.write(f"| {lo}-{hi} | {n} | {n3} | {a} | {b} |\n")
        f.write(f"| all | {s1['slow']['n']} | {sum(reach)} | {f1} | {f2} |\n")
        f.write("\nBy stacked SNR (truth):\n\n| SNR | n | sso | baseline |\n|---|---:|---:|---:|\n")
        for lo, hi, n, a, b in srows:
            f.write(f"| {lo}-{hi if hi is not None else 'inf'} | {n} | {a} | {b} |\n")
    print(open(out_md).read())


def main(argv):
    if len(argv) < 2 or argv[1] in ("-h", "--help"):
        print(__doc__)
        return 0
    cmd = argv[1]
    if cmd == "split" and len(argv) == 4:
        split(argv[2], argv[3])
    elif cmd == "link" and len(argv) >= 4:
        opts = dict(vmax=10.0, snr_min=4.0, r_static=0.25, tol=0.3, obs_id="2681")
        for a in argv[4:]:
            k, v = a.lstrip("-").replace("-", "_").split("=")
            opts[k] = v if k == "obs_id" else float(v)
        link(argv[2], argv[3], **opts)
    elif cmd == "compare" and len(argv) == 8:
        compare(*argv[2:8])
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
