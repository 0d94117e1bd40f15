"""Fixtures for tests/linalg_test.ts and the PCA test: a few matrices and NumPy's
decompositions of them (float64, stored as JSON lists).

Usage: /usr/bin/python3 tools/make_linalg_fixtures.py   (writes tests/testdata/linalg/*.json)
"""
import json
import os

import numpy as np

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "testdata", "linalg")
rng = np.random.default_rng(20261205)


def r(x):
    return np.round(np.asarray(x, dtype=np.float64), 6)


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []
    for n in (1, 3, 5, 8):
        m = r(rng.standard_normal((n, n)))
        spd = r(m @ m.T + n * np.eye(n))
        sym = r((m + m.T) / 2)
        tall = r(rng.standard_normal((n + 2, n)))
        wide = r(rng.standard_normal((n, n + 3)))
        sign, logabsdet = np.linalg.slogdet(m)
        cases.append({
            "n": n,
            "a": m.tolist(),
            "spd": spd.tolist(),
            "sym": sym.tolist(),
            "tall": tall.tolist(),
            "wide": wide.tolist(),
            "cholesky": np.linalg.cholesky(spd).tolist(),
            "eigvalsSym": np.linalg.eigvalsh(sym).tolist(),
            "svdTall": np.linalg.svd(tall, compute_uv=False).tolist(),
            "svdWide": np.linalg.svd(wide, compute_uv=False).tolist(),
            "det": float(np.linalg.det(m)),
            "sign": float(sign),
            "logabsdet": float(logabsdet),
            "inv": np.linalg.inv(m).tolist(),
            "absRTall": np.abs(np.linalg.qr(tall)[1]).tolist(),
            "norms": {
                "fro": float(np.linalg.norm(m)),
                "nuc": float(np.linalg.norm(m, "nuc")),
                "two": float(np.linalg.norm(m, 2)),
                "one": float(np.linalg.norm(m, 1)),
                "inf": float(np.linalg.norm(m, np.inf)),
            },
        })
    with open(os.path.join(OUT, "decompositions.json"), "w") as f:
        json.dump(cases, f)

    # PCA: correlated data [60, 6]; sklearn's PCA = SVD of the centred data
    z = rng.standard_normal((60, 6)) @ rng.standard_normal((6, 6))
    x = r(z + rng.standard_normal(6))
    xc = x - x.mean(0)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    var = s**2 / (x.shape[0] - 1)
    with open(os.path.join(OUT, "pca.json"), "w") as f:
        json.dump({
            "x": x.tolist(),
            "mean": x.mean(0).tolist(),
            "singularValues": s.tolist(),
            "explainedVariance": var.tolist(),
            "explainedVarianceRatio": (var / var.sum()).tolist(),
            "absComponents": np.abs(vt).tolist(),
        }, f)


if __name__ == "__main__":
    main()
