#!/usr/bin/python3
# bench/template_noise.py DUMP K E LENGTHS [X0 Y0 N]
#
# The noise scale of the exact trailed-template SNR, psi_T / sqrt(phi_T) with psi_T = sum D T / V
# and phi_T = sum T^2 / V, on one epoch's difference image of a patch that `sso run` dumped with
# SSO_DEBUG_DUMP=DUMP (DUMP/{diff,dvar,dmask}-pK-eE.fits, the kernel in img-pK-e0.fits HDU 2):
# for each trail length in LENGTHS (comma-separated, px) and three angles, the robust (MAD) and
# plain standard deviations of that map over an N x N cut-out at 0-based (X0, Y0) [1024 1024 2048],
# where the template's phi is >= 0.8 of its median (the sky the exposure covers, sources included).
# 1 is what the propagated variance promises; more means noise correlated over the template's
# extent that the per-pixel variance does not hold. The bank (host/fast_bank.c) calibrates its own
# maps by their MAD; the exact-template SNRs of sso/fast.h (streaks, candidates, alerts) do not.
# Correlation by FFT (numpy), ~10 s per template on 2048^2. Needs Debian's python3-numpy and
# python3-astropy (hence /usr/bin/python3).
import sys

import numpy as np
from astropy.io import fits

d, k, e = sys.argv[1], sys.argv[2], int(sys.argv[3])
lengths = [float(v) for v in sys.argv[4].split(",")]
X0, Y0, N = (int(v) for v in sys.argv[5:8]) if len(sys.argv) > 7 else (1024, 1024, 2048)
K = fits.open("%s/img-p%s-e0.fits" % (d, k))[1].data.astype(float)
D = fits.getdata("%s/diff-p%s-e%d.fits" % (d, k, e)).astype(float)[Y0:Y0 + N, X0:X0 + N]
V = fits.getdata("%s/dvar-p%s-e%d.fits" % (d, k, e)).astype(float)[Y0:Y0 + N, X0:X0 + N]
M = fits.getdata("%s/dmask-p%s-e%d.fits" % (d, k, e))[Y0:Y0 + N, X0:X0 + N]
W = np.where((M == 0) & np.isfinite(D) & (V > 0), 1 / np.where(V > 0, V, 1), 0)
DW = np.nan_to_num(D) * W


def corr(a, t):
    """a correlated with template t (centred), periodic (the 2048 px cut-out's edges are few)"""
    T = np.zeros(a.shape)
    h = t.shape[0] // 2
    T[:t.shape[0], :t.shape[1]] = t
    T = np.roll(T, (-h, -h), (0, 1))
    return np.fft.irfft2(np.fft.rfft2(a) * np.conj(np.fft.rfft2(T)), a.shape)


def trail(L, ang):
    """the kernel averaged along a segment of length L at angle ang [deg], bilinear splats"""
    h = K.shape[0] // 2
    R = int(L / 2 + h + 3)
    T = np.zeros((2 * R + 1, 2 * R + 1))
    m = max(4, int(L * 4))
    for s in np.linspace(-L / 2, L / 2, m):
        cx, cy = R + s * np.cos(np.radians(ang)), R + s * np.sin(np.radians(ang))
        ix, iy = int(np.floor(cx)), int(np.floor(cy))
        fx, fy = cx - ix, cy - iy
        for oy, wy in ((0, 1 - fy), (1, fy)):
            for ox, wx in ((0, 1 - fx), (1, fx)):
                T[iy + oy - h:iy + oy + h + 1, ix + ox - h:ix + ox + h + 1] += K * wx * wy / m
    return T


for L in lengths:
    for ang in (0.0, 30.0, 91.0):
        T = trail(L, ang)
        psi, phi = corr(DW, T), corr(W, T * T)
        ok = phi > 0.8 * np.median(phi)
        s = psi[ok] / np.sqrt(phi[ok])
        mad = np.median(np.abs(s - np.median(s))) / 0.6745
        print("L %6.1f px, angle %5.1f deg: robust std %.3f, std %.3f (%.0f%% of the cut-out)"
              % (L, ang, mad, s.std(), 100 * ok.mean()))
