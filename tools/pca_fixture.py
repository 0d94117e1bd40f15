"""NumPy's PCA of Fashion-MNIST, the reference for tests/d2l_examples_test.ts.

Usage: /usr/bin/python3 tools/pca_fixture.py [/usr/share/datasets/fashion-mnist]

Takes the first N = 400 test images (t10k-images-idx3-ubyte.gz), pixels / 255 as float64
[N, 784], centres them, and writes scikit-learn's PCA quantities for the first K = 10
components, from np.linalg.svd of the centred data: singular values S, explained variance
S^2 / (N - 1), and its ratio to the total variance (all 784 components) to
tests/testdata/models/pca_fashion_mnist.json.
"""
import gzip
import json
import sys

import numpy as np

root = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
N, K = 400, 10
with gzip.open(f"{root}/t10k-images-idx3-ubyte.gz", "rb") as f:
    raw = f.read()
assert int.from_bytes(raw[0:4], "big") == 0x00000803, "not an idx3 ubyte file"
n, h, w = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
x = np.frombuffer(raw, np.uint8, count=N * h * w, offset=16).reshape(N, h * w) / 255.0
s = np.linalg.svd(x - x.mean(0), compute_uv=False)
var = s**2 / (N - 1)
out = {
    "source": "first 400 Fashion-MNIST test images (t10k), pixels / 255, float64",
    "numpy": np.__version__,
    "n": N,
    "k": K,
    "singular_values": s[:K].tolist(),
    "explained_variance": var[:K].tolist(),
    "explained_variance_ratio": (var / var.sum())[:K].tolist(),
}
with open("tests/testdata/models/pca_fashion_mnist.json", "w") as f:
    json.dump(out, f, indent=1)
print(out["explained_variance_ratio"])
