#!/usr/bin/python3
"""Fixtures for tests/models_cnn_test.ts: torchvision's vision models as the reference.

Usage (Debian's python3 with torch 1.13 and torchvision 0.14):

    /usr/bin/python3 tools/make_vision_fixtures.py            # small fixtures + key lists
    /usr/bin/python3 tools/make_vision_fixtures.py --full DIR # full-size GoogLeNet/ResNet-18

Writes under tests/testdata/models/:

- cnn_keys_<model>.json: the `state_dict()` keys and shapes of every full-size model
  (resnet18/34/50/101/152, densenet121/169/201, googlenet without aux heads, vit_b_16), in
  state_dict order. The tests check that our init/initState produce exactly these.
- cnn_<name>.safetensors: the weights of a small instance built from torchvision's own classes
  (reduced widths where the class fixes them, by rebuilding its stages with torchvision's
  blocks), with seeded random values, batch-norm running statistics included.
- cnn_<name>_io.safetensors: a fixed input `input`, the eval-mode logits `logits`; for
  `resnet_basic` also the train-mode logits `train_logits`, the running statistics after that
  training forward pass (`state.<key>`) and the gradients `grad.<key>` of the train-mode loss
  mean(logits * `probe`) with a fixed `probe`.

`--full DIR` writes DIR/cnn_googlenet_full.safetensors and DIR/cnn_resnet18_full.safetensors
(26 MB and 47 MB, too big to commit) with their _io files; the tests run them when
DENAX_VISION_FULL_DIR points at DIR and skip with a message otherwise.

The safetensors files are written by tools/torch_to_safetensors.py (torch + json + struct
only), which is also what users without the `safetensors` package run.
"""
import json
import os
import sys

import torch
import torch.nn as nn
import torchvision
from torchvision.models.densenet import DenseNet
from torchvision.models.googlenet import BasicConv2d, GoogLeNet, Inception
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet
from torchvision.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_to_safetensors import save_safetensors  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "testdata", "models")


def randomize(model, seed):
    """Seeded random weights; BN statistics and affine parameters away from their init."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                t.fill_(3)
            elif name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() >= 2:
                fan_in = t[0].numel()
                t.copy_(torch.randn(t.shape, generator=g) * (1.0 / fan_in) ** 0.5)
            elif name.endswith("weight") and ("bn" in name or "norm" in name or "ln" in name):
                t.copy_(torch.rand(t.shape, generator=g) * 0.5 + 0.75)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return model


def small_resnet(block, layers, widths, stem, num_classes, in_ch, groups=1, width_per_group=64):
    """torchvision's ResNet with its stages rebuilt at other widths (its own _make_layer)."""
    m = ResNet(block, [1, 1, 1, 1], num_classes=num_classes, groups=groups,
               width_per_group=width_per_group)
    m.inplanes = stem
    m.conv1 = nn.Conv2d(in_ch, stem, kernel_size=7, stride=2, padding=3, bias=False)
    m.bn1 = nn.BatchNorm2d(stem)
    m.layer1 = m._make_layer(block, widths[0], layers[0])
    m.layer2 = m._make_layer(block, widths[1], layers[1], stride=2)
    m.layer3 = m._make_layer(block, widths[2], layers[2], stride=2)
    m.layer4 = m._make_layer(block, widths[3], layers[3], stride=2)
    m.fc = nn.Linear(widths[3] * block.expansion, num_classes)
    return m


# torchvision's GoogLeNet table: (in, 1x1, 3x3red, 3x3, 5x5red, 5x5, pool_proj)
INCEPTION = {
    "inception3a": (192, 64, 96, 128, 16, 32, 32),
    "inception3b": (256, 128, 128, 192, 32, 96, 64),
    "inception4a": (480, 192, 96, 208, 16, 48, 64),
    "inception4b": (512, 160, 112, 224, 24, 64, 64),
    "inception4c": (512, 128, 128, 256, 24, 64, 64),
    "inception4d": (512, 112, 144, 288, 32, 64, 64),
    "inception4e": (528, 256, 160, 320, 32, 128, 128),
    "inception5a": (832, 256, 160, 320, 32, 128, 128),
    "inception5b": (832, 384, 192, 384, 48, 128, 128),
}


def small_googlenet(div, num_classes, in_ch):
    """torchvision's GoogLeNet with every width divided by `div` (its own blocks)."""
    m = GoogLeNet(num_classes=num_classes, aux_logits=False, init_weights=False)
    m.conv1 = BasicConv2d(in_ch, 64 // div, kernel_size=7, stride=2, padding=3)
    m.conv2 = BasicConv2d(64 // div, 64 // div, kernel_size=1)
    m.conv3 = BasicConv2d(64 // div, 192 // div, kernel_size=3, padding=1)
    for name, cfg in INCEPTION.items():
        setattr(m, name, Inception(*[c // div for c in cfg]))
    m.fc = nn.Linear(1024 // div, num_classes)
    return m


def write_keys(name, model):
    keys = [[k, list(v.shape)] for k, v in model.state_dict().items()]
    with open(os.path.join(OUT, f"cnn_keys_{name}.json"), "w") as f:
        json.dump({"model": name, "torchvision": torchvision.__version__, "keys": keys}, f)
        f.write("\n")


def write_model(out, name, model, x, extra=None):
    model.eval()
    with torch.no_grad():
        logits = model(x)
    save_safetensors(model.state_dict(), os.path.join(out, f"cnn_{name}.safetensors"))
    io = {"input": x, "logits": logits}
    io.update(extra or {})
    save_safetensors(io, os.path.join(out, f"cnn_{name}_io.safetensors"))
    print(f"{name}: {sum(p.numel() for p in model.parameters())} params, logits {tuple(logits.shape)}")


def train_extras(model, x, seed):
    """Train-mode logits, the running statistics after that pass, and grads of mean(logits*probe)."""
    g = torch.Generator().manual_seed(seed)
    model.train()
    logits = model(x)
    probe = torch.randn(logits.shape, generator=g)
    loss = (logits * probe).mean()
    grads = torch.autograd.grad(loss, [p for p in model.parameters()])
    out = {"train_logits": logits.detach(), "probe": probe}
    names = [n for n, _ in model.named_parameters()]
    out.update({f"grad.{n}": gr for n, gr in zip(names, grads)})
    for k, v in model.state_dict().items():
        if "running" in k or "num_batches" in k:
            out[f"state.{k}"] = v.clone()
    model.eval()
    return out


def full_keys():
    m = torchvision.models
    for name, ctor in [("resnet18", m.resnet18), ("resnet34", m.resnet34),
                       ("resnet50", m.resnet50), ("resnet101", m.resnet101),
                       ("resnet152", m.resnet152), ("densenet121", m.densenet121),
                       ("densenet169", m.densenet169), ("densenet201", m.densenet201),
                       ("vit_b_16", m.vit_b_16)]:
        write_keys(name, ctor())
    write_keys("googlenet", m.googlenet(aux_logits=False, init_weights=True))


def small(out):
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    # resnet_basic: BasicBlock, one block per stage, widths 8/16/16/32, 3 -> 10 classes, on a
    # 64x64 input: layer4 sees 2x2 maps, so train-mode BN has 8 values per channel (with 2 its
    # normalization is ill-conditioned and f32 rounding shows in the gradients)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    m = randomize(small_resnet(BasicBlock, [1, 1, 1, 1], [8, 16, 16, 32], 8, 10, 3), 10)
    # before writing: the train pass changes the running statistics, so compute eval first
    m.eval()
    with torch.no_grad():
        eval_logits = m(x)
    extras = train_extras(m, x, 11)
    # restore the statistics the file holds: rebuild from the same seed
    m = randomize(small_resnet(BasicBlock, [1, 1, 1, 1], [8, 16, 16, 32], 8, 10, 3), 10)
    write_model(out, "resnet_basic", m, x, extras)
    with torch.no_grad():
        assert torch.equal(m(x), eval_logits)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    # resnet_bottleneck: Bottleneck [2,1,1,1], widths 4/8/8/16, groups 2, width_per_group 32,
    # one input channel (Fashion-MNIST-like 1x28x28)
    x1 = torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(2))
    m = randomize(small_resnet(Bottleneck, [2, 1, 1, 1], [4, 8, 8, 16], 8, 10, 1, 2, 32), 20)
    write_model(out, "resnet_bottleneck", m, x1)
    # densenet_small: growth 8, blocks (2,2,2,2), 16 initial features
    m = randomize(DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16,
                           num_classes=10), 30)
    write_model(out, "densenet_small", m, x)
    # googlenet_small: widths / 8, a 48x48 input (ceil_mode pools with partial windows)
    x48 = torch.randn(2, 3, 48, 48, generator=torch.Generator().manual_seed(3))
    m = randomize(small_googlenet(8, 10, 3), 40)
    write_model(out, "googlenet_small", m, x48)
    # vit_small: 32x32 images, 8x8 patches, 2 layers, 2 heads, hidden 32, mlp 64
    m = randomize(VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                    hidden_dim=32, mlp_dim=64, num_classes=10), 50)
    write_model(out, "vit_small", m, x)


def full(out):
    os.makedirs(out, exist_ok=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    m = randomize(torchvision.models.googlenet(aux_logits=False, init_weights=False), 60)
    write_model(out, "googlenet_full", m, x)
    m = randomize(torchvision.models.resnet18(), 61)
    write_model(out, "resnet18_full", m, x)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--full":
        full(sys.argv[2])
    elif len(sys.argv) == 1:
        os.makedirs(OUT, exist_ok=True)
        full_keys()
        small(OUT)
    else:
        sys.exit(__doc__)
