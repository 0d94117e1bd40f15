"""Fixture for tests/d2l_data_test.ts: bilinear resizing references.

Usage: /usr/bin/python3 tools/make_d2l_resize_fixture.py   (Debian's python3 with torch 1.13,
torchvision 0.14 and PIL)

Writes tests/testdata/d2l/resize.json: for a small random input and for a 28x28 u8 image,
torch.nn.functional.interpolate(mode="bilinear", align_corners=False), torchvision's Resize on
the tensor (antialias off, torchvision 0.14's default for tensors), and -- for the u8 image --
torchvision's Resize on the PIL image followed by ToTensor (what d2l's load_data_fashion_mnist
does; PIL rounds to u8 after interpolating).
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torchvision import transforms

rng = np.random.default_rng(0)
small = rng.standard_normal((1, 2, 5, 7)).astype(np.float32)
img = rng.integers(0, 256, size=(28, 28), dtype=np.uint8)

cases = []
for size in [(9, 11), (3, 4), (5, 14)]:
    t = torch.from_numpy(small)
    out = F.interpolate(t, size=size, mode="bilinear", align_corners=False)
    cases.append({"size": list(size), "output": out.numpy().round(7).tolist()})

x = torch.from_numpy(img.astype(np.float32) / 255).reshape(1, 1, 28, 28)
tv = transforms.Resize(64)(x)  # tensors: antialias off in torchvision 0.14
pil = transforms.ToTensor()(transforms.Resize(64)(Image.fromarray(img)))
ref = F.interpolate(x, size=(64, 64), mode="bilinear", align_corners=False)
assert torch.allclose(tv, ref, atol=1e-6)

out = {
    "input": small.tolist(),
    "cases": cases,
    "image": img.tolist(),
    "image64_torchvision": tv[0, 0].numpy().round(7).tolist(),
    "image64_pil": (pil[0].numpy() * 255).round().astype(int).tolist(),
}
path = os.path.join(os.path.dirname(__file__), "..", "tests", "testdata", "d2l", "resize.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
print("wrote", path, os.path.getsize(path), "bytes")
