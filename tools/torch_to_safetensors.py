#!/usr/bin/python3
"""Writes a PyTorch state_dict as a safetensors file with only torch, json and struct.

For users without the `safetensors` package (Debian's python3-torch does not ship it). The
file loads in denax with `train.loadTorchStateDict(model, "model.safetensors")`.

Usage:

    /usr/bin/python3 tools/torch_to_safetensors.py model.pt model.safetensors

where model.pt is what `torch.save(model.state_dict(), "model.pt")` wrote (a whole pickled
module works too). From Python:

    import sys; sys.path.insert(0, "tools")
    from torch_to_safetensors import save_safetensors
    save_safetensors(model.state_dict(), "resnet18.safetensors")

Format (https://github.com/huggingface/safetensors): an 8-byte little-endian header length,
a JSON header {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {...}}
padded with spaces to a multiple of 8 bytes, then the tensors' little-endian bytes.
"""
import json
import struct
import sys

import torch

DTYPES = {
    torch.float32: "F32",
    torch.float64: "F64",
    torch.float16: "F16",
    torch.bfloat16: "BF16",
    torch.int64: "I64",
    torch.int32: "I32",
    torch.int16: "I16",
    torch.int8: "I8",
    torch.uint8: "U8",
    torch.bool: "BOOL",
}


def _bytes(t):
    """The tensor's bytes, row-major little-endian (numpy when present, else plain torch)."""
    flat = t.detach().cpu().contiguous().reshape(-1)
    if flat.numel() == 0:
        return b""
    u8 = flat.view(torch.uint8) if flat.dtype != torch.bool else flat.to(torch.uint8)
    try:
        return u8.numpy().tobytes()
    except (ImportError, RuntimeError, TypeError):
        return bytes(u8.tolist())


def save_safetensors(tensors, path, metadata=None):
    """Writes {name: tensor} to `path` in the safetensors format."""
    if sys.byteorder != "little":
        raise SystemExit("torch_to_safetensors: needs a little-endian host")
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} is {type(t).__name__}, not a tensor")
        if t.dtype not in DTYPES:
            raise TypeError(f"{name}: dtype {t.dtype} has no safetensors name")
        b = _bytes(t)
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)


def main(argv):
    if len(argv) != 3:
        raise SystemExit(__doc__)
    obj = torch.load(argv[1], map_location="cpu")
    if isinstance(obj, torch.nn.Module):
        obj = obj.state_dict()
    save_safetensors(obj, argv[2])
    print(f"wrote {len(obj)} tensors to {argv[2]}")


if __name__ == "__main__":
    main(sys.argv)
