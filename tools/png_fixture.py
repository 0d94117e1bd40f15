"""Golden PNG files for tests/png_test.ts, written by PIL (an encoder denax did not write).

Usage: /usr/bin/python3 tools/png_fixture.py   (Debian's python3 with python3-pil)

The pixels are a fixed pattern, value(x, y, c) = (x*37 + y*91 + c*53 + x*y) % 256, so the test
can rebuild them without reading anything else:
  tests/testdata/png/pil_gray_7x5.png   7 wide, 5 high, mode "L"
  tests/testdata/png/pil_rgb_6x4.png    6 wide, 4 high, mode "RGB"
  tests/testdata/png/pil_rgba_3x3.png   3 wide, 3 high, mode "RGBA"
PIL chooses its own row filters (Sub, Up, Paeth, ...), so decoding them exercises the
unfiltering in the test's decoder.
"""
import numpy as np
from PIL import Image

def pattern(w, h, c):
    y, x, ch = np.meshgrid(np.arange(h), np.arange(w), np.arange(c), indexing="ij")
    return ((x * 37 + y * 91 + ch * 53 + x * y) % 256).astype(np.uint8)

out = "tests/testdata/png/"
Image.fromarray(pattern(7, 5, 1)[:, :, 0], "L").save(out + "pil_gray_7x5.png", optimize=True)
Image.fromarray(pattern(6, 4, 3), "RGB").save(out + "pil_rgb_6x4.png", optimize=True)
Image.fromarray(pattern(3, 3, 4), "RGBA").save(out + "pil_rgba_3x3.png", optimize=True)
print("wrote", out)
