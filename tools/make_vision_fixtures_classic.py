"""Fixtures of tests/models_classic_test.ts: the classic vision models (AlexNet, VGG, NiN,
LeNet and its batch-norm and modern variants) built with PyTorch / torchvision, seeded random
weights, a fixed input and the expected outputs.

Usage (Debian's python3 has torch 1.13 and torchvision 0.14; pyenv's python3 has no torch):

    /usr/bin/python3 tools/make_vision_fixtures_classic.py

Writes to tests/testdata/models/:
  classic_<name>.safetensors     the model's state_dict() as it is (PyTorch key names, I64
                                 num_batches_tracked), reduced widths so each file stays small
  classic_<name>_io.safetensors  `input` f32[N, C, H, W] and `logits` (eval mode); for lenet
                                 also `labels` (i32), `loss` and `grad.<key>` (the gradient of
                                 the mean cross-entropy); for lenet_bn also `train_logits` and
                                 `train_state.<key>` (one forward pass in train mode)
  classic_torchvision_keys.json  {model: [[key, shape], ...]} of the full-size torchvision
                                 alexnet and vgg11/13/16/19(_bn) state_dict()s (no weights)

The reduced models use torchvision's own classes: AlexNet and VGG with their `features` and
`classifier` replaced by the same structure at smaller widths (the classes fix 64…512 and
4096), so key names are unchanged. No safetensors package is needed: the writer is below.
"""
import json
import math
import os
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.vgg import VGG, cfgs, make_layers

OUT = os.path.join(os.path.dirname(__file__), "..", "tests", "testdata", "models")
DT = {torch.float32: "F32", torch.int64: "I64", torch.int32: "I32"}


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        t = t.detach().contiguous().cpu()
        b = t.numpy().tobytes()
        header[k] = {"dtype": DT[t.dtype], "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
    print(f"{path}: {os.path.getsize(path)} bytes")


def randomize(model, gain=math.sqrt(6.0)):
    """Uniform weights U(-gain/sqrt(fan_in), +) and biases, random batch-norm statistics."""
    g = torch.Generator().manual_seed(1234)
    for name, p in model.named_parameters():
        if p.dim() > 1:
            fan_in = p[0].numel()
            b = gain / math.sqrt(fan_in) / math.sqrt(2.0)
        else:
            b = 0.2
        with torch.no_grad():
            p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * b)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            with torch.no_grad():
                m.weight.copy_(1 + 0.3 * (torch.rand(m.weight.shape, generator=g) * 2 - 1))
                m.running_mean.copy_(0.2 * (torch.rand(m.running_mean.shape, generator=g) * 2 - 1))
                m.running_var.copy_(0.5 + torch.rand(m.running_var.shape, generator=g))
                m.num_batches_tracked.fill_(7)


def write(name, model, x, extra=None):
    model.eval()
    with torch.no_grad():
        logits = model(x)
    save_safetensors(os.path.join(OUT, f"classic_{name}.safetensors"), model.state_dict())
    io = {"input": x, "logits": logits}
    io.update(extra or {})
    save_safetensors(os.path.join(OUT, f"classic_{name}_io.safetensors"), io)


class SmallAlexNet(torchvision.models.AlexNet):
    def __init__(self, in_ch, chans, hidden, num_classes):
        super().__init__(num_classes=num_classes)
        c1, c2, c3, c4, c5 = chans
        self.features = nn.Sequential(
            nn.Conv2d(in_ch, c1, 11, 4, 2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(c1, c2, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
            nn.Conv2d(c2, c3, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c3, c4, 3, padding=1), nn.ReLU(),
            nn.Conv2d(c4, c5, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2))
        self.classifier = nn.Sequential(
            nn.Dropout(0.5), nn.Linear(c5 * 36, hidden), nn.ReLU(),
            nn.Dropout(0.5), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


class SmallVGG(VGG):
    def __init__(self, cfg, bn, hidden, num_classes):
        super().__init__(make_layers(cfg, batch_norm=bn), num_classes=num_classes)
        c = [v for v in cfg if v != "M"][-1]
        self.classifier = nn.Sequential(
            nn.Linear(c * 49, hidden), nn.ReLU(True), nn.Dropout(0.5),
            nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(0.5), nn.Linear(hidden, num_classes))


def nin_block(cin, cout, k, s, p):
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, p), nn.ReLU(), nn.Conv2d(cout, cout, 1),
                         nn.ReLU(), nn.Conv2d(cout, cout, 1), nn.ReLU())


def lenet(modern=False, in_ch=1, num_classes=10):
    act = nn.ReLU if modern else nn.Sigmoid
    pool = nn.MaxPool2d if modern else nn.AvgPool2d
    return nn.Sequential(
        nn.Conv2d(in_ch, 6, 5, padding=2), act(), pool(2, 2),
        nn.Conv2d(6, 16, 5), act(), pool(2, 2), nn.Flatten(),
        nn.Linear(400, 120), act(), nn.Linear(120, 84), act(), nn.Linear(84, num_classes))


def lenet_bn(in_ch=1, num_classes=10):
    return nn.Sequential(
        nn.Conv2d(in_ch, 6, 5), nn.BatchNorm2d(6), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
        nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(), nn.Linear(84, num_classes))


def main():
    os.makedirs(OUT, exist_ok=True)
    torch.manual_seed(0)

    m = SmallAlexNet(3, [8, 16, 16, 16, 16], 32, 10)
    randomize(m)
    write("alexnet", m, torch.randn(2, 3, 95, 95))  # 95 → 23 → 11 → 11 → 5 → 5 → 2 → adaptive 6

    m = SmallVGG([8, "M", 16, "M", 16, 16, "M", 16, 16, "M", 16, 16, "M"], True, 32, 10)
    randomize(m)
    write("vgg11_bn", m, torch.randn(2, 3, 32, 32))  # 32 → 1 → adaptive 7

    m = SmallVGG([8, "M", 16, "M", 16, 16, "M"], False, 32, 10)
    randomize(m)
    write("vgg", m, torch.randn(2, 3, 40, 40))  # 40 → 5 → adaptive 7 (overlapping windows)

    m = nn.Sequential(nin_block(1, 8, 11, 4, 0), nn.MaxPool2d(3, 2), nin_block(8, 16, 5, 1, 2),
                      nn.MaxPool2d(3, 2), nin_block(16, 16, 3, 1, 1), nn.MaxPool2d(3, 2),
                      nn.Dropout(0.5), nin_block(16, 10, 3, 1, 1), nn.AdaptiveAvgPool2d((1, 1)),
                      nn.Flatten())
    randomize(m)
    write("nin", m, torch.randn(2, 1, 67, 67))

    # LeNet (d2l): logits, and the gradient of the mean cross-entropy for every parameter
    m = lenet()
    x, labels = torch.randn(4, 1, 28, 28), torch.tensor([3, 1, 7, 0])
    m.zero_grad()
    loss = F.cross_entropy(m(x), labels)
    loss.backward()
    extra = {"labels": labels.to(torch.int32), "loss": loss.detach()}
    extra.update({f"grad.{k}": p.grad for k, p in m.named_parameters()})
    write("lenet", m, x, extra)

    m = lenet(modern=True)
    write("lenet_modern", m, torch.randn(2, 1, 28, 28))

    # batch-norm LeNet: eval logits with random running statistics, plus one train-mode pass
    m = lenet_bn()
    randomize(m, gain=math.sqrt(3.0))
    x = torch.randn(4, 1, 28, 28)
    m.eval()
    with torch.no_grad():
        logits = m(x)
    sd0 = {k: v.clone() for k, v in m.state_dict().items()}
    m.train()
    with torch.no_grad():
        train_logits = m(x)
    extra = {"train_logits": train_logits}
    extra.update({f"train_state.{k}": v.clone() for k, v in m.state_dict().items()
                  if "running" in k or "num_batches" in k})
    m.load_state_dict(sd0)
    m.eval()
    save_safetensors(os.path.join(OUT, "classic_lenet_bn.safetensors"), m.state_dict())
    io = {"input": x, "logits": logits}
    io.update(extra)
    save_safetensors(os.path.join(OUT, "classic_lenet_bn_io.safetensors"), io)

    # full-size torchvision models: only the state_dict keys and shapes
    keys = {}
    tv = torchvision.models
    for name in ["alexnet", "vgg11", "vgg11_bn", "vgg13", "vgg13_bn", "vgg16", "vgg16_bn",
                 "vgg19", "vgg19_bn"]:
        model = getattr(tv, name)(weights=None)
        keys[name] = [[k, list(v.shape)] for k, v in model.state_dict().items()]
        del model
    path = os.path.join(OUT, "classic_torchvision_keys.json")
    with open(path, "w") as f:
        json.dump(keys, f, indent=0)
    print(f"{path}: {os.path.getsize(path)} bytes")


if __name__ == "__main__":
    main()
