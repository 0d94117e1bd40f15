"""PyTorch CPU seconds per epoch (and, with --train-epochs, d2l's training) for denax's Fashion-MNIST trainings, for
bench/RESULTS.md ("d2l examples on the native backend"):

  lenet   d2l's LeNet (sigmoid, average pooling), 28x28, batch 256, SGD lr 0.9, Xavier init
          (examples/d2l/lenet.ts)
  resnet  d2l's ResNet-18 (biased convs, 1x1 conv shortcuts without BN), 28x28, batch 256,
          SGD lr 0.05 (examples/d2l/resnet.ts)
  bnlenet d2l's BN-LeNet (section "Batch Normalization", concise version: BatchNorm2d/1d before
          each sigmoid), 28x28, batch 256, SGD lr 1.0, Xavier init (examples/d2l/lenet_bn.ts);
          with --train-epochs N it trains N whole epochs as d2l's train_ch6 (the last partial
          batch kept) and prints the mean loss, training and test accuracy of each
  alexnet, vgg, nin, googlenet
          d2l's AlexNet / small VGG-11 / NiN / GoogLeNet as examples/d2l/{alexnet,vgg,nin,googlenet}.ts
          build them at 28x28 (first layers adjusted as each file's comment says), batch 128, SGD
          lr 0.01 / 0.05 / 0.1 / 0.1, Xavier init
  vgg7    the small VGG-11 with two pools, so that its classifier reads 128 x 7 x 7 features as
          d2l's does at 224 x 224 (vgg's reads 128: a plateau check)
  densenet
          d2l's DenseNet (section 8.7: growth 32, four blocks of four BN-ReLU-3x3 conv layers,
          transitions halving the channels) on 28x28 images zero-padded to 32x32, as
          examples/d2l/densenet.ts, batch 256, SGD lr 0.1, Xavier init
  mlp     the demo (examples/fashion_mnist.ts): 784-256-10 ReLU on standardized pixels, Adam
          lr 1e-3, batch 64, 55000 training images and a 5000-image validation pass per epoch

Usage (Debian's python3 with python3-torch; OpenBLAS's tuning variables unset for this
command only):

  env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/d2l_torch.py \
      [--model lenet,resnet,bnlenet,mlp] [--limit N] [--threads N (default: the cores)]
      [--train-epochs N] [--seed N] [--dump DIR]

--dump DIR (bnlenet only) writes what bench/d2l_bnlenet_check.ts compares denax against:
init.safetensors (the Xavier-initialized state_dict), steps.json (the mean loss of 5 SGD
steps, lr 1.0, on the first 5×256 training images in order, then the eval-mode logits of the
first 256 test images) and final.safetensors (the state_dict after the 5 steps).
      [--data /usr/share/datasets/fashion-mnist]

The data are in memory as float32 tensors; each epoch shuffles with torch.randperm and slices
batches (no DataLoader workers), as denax batches on its device. With --limit N an epoch is the
first N training images (the last partial batch dropped, as denax's fit does); the script warms
up with 3 steps, times one epoch, and prints the seconds and the same scaled to a full epoch
(60000 images; 55000 + 5000 validation for mlp).
"""
import argparse
import gzip
import os
import time

import numpy as np
import torch
from torch import nn


def idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def lenet():
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
        nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(), nn.Linear(84, 10))
    return xavier(net)


def bnlenet():
    net = nn.Sequential(
        nn.Conv2d(1, 6, 5), nn.BatchNorm2d(6), nn.Sigmoid(), nn.AvgPool2d(2, 2),
        nn.Conv2d(6, 16, 5), nn.BatchNorm2d(16), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
        nn.Linear(256, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
        nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(), nn.Linear(84, 10))
    return xavier(net)


def dump_bnlenet(net, x, y, xt, out, steps=5, batch=256):
    """The fixture of bench/d2l_bnlenet_check.ts (see --dump)."""
    import json
    import sys
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
    from torch_to_safetensors import save_safetensors
    os.makedirs(out, exist_ok=True)
    save_safetensors(net.state_dict(), os.path.join(out, "init.safetensors"))
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    loss_fn = nn.CrossEntropyLoss()
    losses = []
    net.train()
    for i in range(steps):
        opt.zero_grad()
        loss = loss_fn(net(x[i * batch:(i + 1) * batch]), y[i * batch:(i + 1) * batch])
        loss.backward()
        opt.step()
        losses.append(float(loss))
    save_safetensors(net.state_dict(), os.path.join(out, "final.safetensors"))
    net.eval()
    with torch.no_grad():
        logits = net(xt[:256]).tolist()
    with open(os.path.join(out, "steps.json"), "w") as f:
        json.dump({"steps": steps, "batch": batch, "lr": 1.0, "losses": losses,
                   "test_logits": logits}, f)
    print(f"wrote {out}: losses {[round(v, 5) for v in losses]}")


def train_ch6(net, lr, epochs, x, y, xt, yt, batch=256):
    """d2l's train_ch6 on in-memory tensors: shuffled batches (the last partial one kept), SGD,
    the mean cross-entropy; the test accuracy in eval mode after every epoch."""
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    for e in range(epochs):
        net.train()
        perm = torch.randperm(x.shape[0])
        tot_loss = tot_acc = 0.0
        t0 = time.perf_counter()
        for i in range(0, x.shape[0], batch):
            j = perm[i:i + batch]
            opt.zero_grad()
            out = net(x[j])
            loss = loss_fn(out, y[j])
            loss.backward()
            opt.step()
            tot_loss += float(loss) * len(j)
            tot_acc += int((out.argmax(1) == y[j]).sum())
        secs = time.perf_counter() - t0
        print(f"epoch {e + 1}: loss {tot_loss / x.shape[0]:.4f}, train acc "
              f"{tot_acc / x.shape[0]:.4f}, test acc {evaluate(net, xt, yt):.4f} ({secs:.1f} s)",
              flush=True)


class Residual(nn.Module):  # d2l §8.6
    def __init__(self, cin, cout, use_1x1conv=False, strides=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, stride=strides)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv3 = nn.Conv2d(cin, cout, 1, stride=strides) if use_1x1conv else None
        self.bn1, self.bn2 = nn.BatchNorm2d(cout), nn.BatchNorm2d(cout)

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (self.conv3(x) if self.conv3 is not None else x))


def resnet18():
    def stage(cin, cout, n, first=False):
        return [Residual(cin, cout, use_1x1conv=True, strides=2) if i == 0 and not first
                else Residual(cout, cout) for i in range(n)]
    b1 = nn.Sequential(nn.Conv2d(1, 64, 7, stride=2, padding=3), nn.BatchNorm2d(64), nn.ReLU(),
                       nn.MaxPool2d(3, stride=2, padding=1))
    net = nn.Sequential(b1, nn.Sequential(*stage(64, 64, 2, first=True)),
                        nn.Sequential(*stage(64, 128, 2)), nn.Sequential(*stage(128, 256, 2)),
                        nn.Sequential(*stage(256, 512, 2)), nn.AdaptiveAvgPool2d((1, 1)),
                        nn.Flatten(), nn.Linear(512, 10))
    return xavier(net)


def alexnet28():  # examples/d2l/alexnet.ts: d2l's AlexNet, first layer 3x3 stride 1 for 28x28
    net = nn.Sequential(
        nn.Conv2d(1, 96, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(96, 256, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(256, 384, 3, padding=1), nn.ReLU(), nn.Conv2d(384, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2), nn.Flatten(),
        nn.Linear(1024, 4096), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5), nn.Linear(4096, 10))
    return xavier(net)


def vgg28(pools=4):  # examples/d2l/vgg.ts: d2l's small VGG-11 (widths / 4), no fifth pool at 28x28
    # pools=2 ("vgg7"): no third and fourth pool either, so the classifier reads 128 x 7 x 7 = 6272
    # features as d2l's does at 224 x 224
    arch = [16, "M", 32, "M", 64, 64, "M", 128, 128, "M", 128, 128]
    if pools == 2:
        arch = [v for k, v in enumerate(arch) if not (v == "M" and k > 3)]
    layers, cin = [], 1
    for v in arch:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            layers += [nn.Conv2d(cin, v, 3, padding=1), nn.ReLU()]
            cin = v
    side = 28 >> pools
    net = nn.Sequential(*layers, nn.Flatten(), nn.Linear(128 * side * side, 4096), nn.ReLU(),
                        nn.Dropout(0.5), nn.Linear(4096, 4096), nn.ReLU(), nn.Dropout(0.5),
                        nn.Linear(4096, 10))
    return xavier(net)


def nin28():  # examples/d2l/nin.ts: d2l's NiN, first block 3x3 stride 1 padding 1 for 28x28
    def block(i, o, k, s, p):
        return [nn.Conv2d(i, o, k, s, p), nn.ReLU(), nn.Conv2d(o, o, 1), nn.ReLU(),
                nn.Conv2d(o, o, 1), nn.ReLU()]
    net = nn.Sequential(
        *block(1, 96, 3, 1, 1), nn.MaxPool2d(3, 2), *block(96, 256, 5, 1, 2), nn.MaxPool2d(3, 2),
        *block(256, 384, 3, 1, 1), nn.MaxPool2d(3, 2), nn.Dropout(0.5),
        *block(384, 10, 3, 1, 1), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten())
    return xavier(net)


class Inception(nn.Module):  # d2l §7.4
    def __init__(self, cin, c1, c2, c3, c4):
        super().__init__()
        self.b1 = nn.Conv2d(cin, c1, 1)
        self.b2_1, self.b2_2 = nn.Conv2d(cin, c2[0], 1), nn.Conv2d(c2[0], c2[1], 3, padding=1)
        self.b3_1, self.b3_2 = nn.Conv2d(cin, c3[0], 1), nn.Conv2d(c3[0], c3[1], 5, padding=2)
        self.b4_1, self.b4_2 = nn.MaxPool2d(3, 1, 1), nn.Conv2d(cin, c4, 1)

    def forward(self, x):
        r = torch.relu
        return torch.cat((r(self.b1(x)), r(self.b2_2(r(self.b2_1(x)))),
                          r(self.b3_2(r(self.b3_1(x)))), r(self.b4_2(self.b4_1(x)))), 1)


def googlenet():  # examples/d2l/googlenet.ts: d2l's GoogLeNet unchanged (4x4 maps at Inception 3)
    pool = lambda: nn.MaxPool2d(3, 2, 1)  # noqa: E731
    net = nn.Sequential(
        nn.Conv2d(1, 64, 7, 2, 3), nn.ReLU(), pool(),
        nn.Conv2d(64, 64, 1), nn.ReLU(), nn.Conv2d(64, 192, 3, padding=1), nn.ReLU(), pool(),
        Inception(192, 64, (96, 128), (16, 32), 32), Inception(256, 128, (128, 192), (32, 96), 64),
        pool(),
        Inception(480, 192, (96, 208), (16, 48), 64), Inception(512, 160, (112, 224), (24, 64), 64),
        Inception(512, 128, (128, 256), (24, 64), 64), Inception(512, 112, (144, 288), (32, 64), 64),
        Inception(528, 256, (160, 320), (32, 128), 128), pool(),
        Inception(832, 256, (160, 320), (32, 128), 128), Inception(832, 384, (192, 384), (48, 128), 128),
        nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(1024, 10))
    return xavier(net)


def densenet():  # examples/d2l/densenet.ts: d2l section 8.7 on 28x28 zero-padded to 32x32
    def conv_block(cin, cout):
        return [nn.BatchNorm2d(cin), nn.ReLU(), nn.Conv2d(cin, cout, 3, padding=1)]

    class Dense(nn.Module):
        def __init__(self, n, cin, k):
            super().__init__()
            self.net = nn.ModuleList(nn.Sequential(*conv_block(cin + i * k, k)) for i in range(n))

        def forward(self, x):
            for blk in self.net:
                x = torch.cat((x, blk(x)), 1)
            return x

    layers, c = [nn.ZeroPad2d(2), nn.Conv2d(1, 64, 7, 2, 3), nn.BatchNorm2d(64), nn.ReLU(),
                 nn.MaxPool2d(3, 2, 1)], 64
    for i in range(4):
        layers.append(Dense(4, c, 32))
        c += 4 * 32
        if i != 3:
            layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.Conv2d(c, c // 2, 1), nn.AvgPool2d(2, 2)]
            c //= 2
    layers += [nn.BatchNorm2d(c), nn.ReLU(), nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
               nn.Linear(c, 10)]
    return xavier(nn.Sequential(*layers))


# name: (constructor, SGD learning rate, batch size), as the examples/d2l/*.ts specs
SPECS = {"lenet": (lenet, 0.9, 256), "bnlenet": (bnlenet, 1.0, 256), "resnet": (resnet18, 0.05, 256),
         "alexnet": (alexnet28, 0.01, 128), "vgg": (vgg28, 0.05, 128), "nin": (nin28, 0.1, 128),
         "vgg7": (lambda: vgg28(pools=2), 0.05, 128),
         "googlenet": (googlenet, 0.1, 128), "densenet": (densenet, 0.1, 256)}


def xavier(net):
    for m in net.modules():
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            nn.init.xavier_uniform_(m.weight)
    return net


def epoch(net, opt, x, y, batch, limit_steps=None):
    net.train()
    loss_fn = nn.CrossEntropyLoss()
    perm = torch.randperm(x.shape[0])
    steps = x.shape[0] // batch if limit_steps is None else limit_steps
    for i in range(steps):
        j = perm[i * batch:(i + 1) * batch]
        opt.zero_grad()
        loss = loss_fn(net(x[j]), y[j])
        loss.backward()
        opt.step()
    return float(loss)


def evaluate(net, x, y, batch=1000):
    net.eval()
    with torch.no_grad():
        return sum(int((net(x[i:i + batch]).argmax(1) == y[i:i + batch]).sum())
                   for i in range(0, x.shape[0], batch)) / x.shape[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="lenet,resnet,mlp")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--train-epochs", type=int, default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dump", default=None)
    a = ap.parse_args()
    # one thread per core, as denax's native backend sets OpenBLAS (this torch build's OpenMP
    # otherwise starts with 1 here)
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    xs = torch.from_numpy(idx(f"{a.data}/train-images-idx3-ubyte.gz").astype(np.float32) / 255)
    ys = torch.from_numpy(idx(f"{a.data}/train-labels-idx1-ubyte.gz").astype(np.int64))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    for name in a.model.split(","):
        if name == "mlp":
            n_train = 55000 if a.limit is None else min(a.limit, 55000)
            mean, std = float(xs[:55000].mean()), float(xs[:55000].std())
            x = ((xs - mean) / std).reshape(-1, 784)
            xt, yt, xv, yv = x[:n_train], ys[:n_train], x[55000:], ys[55000:]
            net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
            opt = torch.optim.Adam(net.parameters(), lr=1e-3)
            batch, full = 64, 55000
        else:
            n_train = 60000 if a.limit is None else min(a.limit, 60000)
            xt, yt = xs[:n_train].reshape(-1, 1, 28, 28), ys[:n_train]
            xv = yv = None
            make, lr, batch = SPECS[name]
            net = make()
            if a.dump is not None:
                xte = torch.from_numpy(idx(f"{a.data}/t10k-images-idx3-ubyte.gz")
                                       .astype(np.float32) / 255).reshape(-1, 1, 28, 28)
                dump_bnlenet(net, xt, yt, xte, a.dump)
                continue
            if a.train_epochs is not None:
                xte = torch.from_numpy(idx(f"{a.data}/t10k-images-idx3-ubyte.gz")
                                       .astype(np.float32) / 255).reshape(-1, 1, 28, 28)
                yte = torch.from_numpy(idx(f"{a.data}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
                print(f"{name}: {a.train_epochs} epochs as d2l's train_ch6, lr {lr}, seed {a.seed}")
                train_ch6(net, lr, a.train_epochs, xt, yt, xte, yte, batch)
                continue
            opt = torch.optim.SGD(net.parameters(), lr=lr)
            full = 60000
        epoch(net, opt, xt, yt, batch, limit_steps=3)  # warm-up
        t0 = time.perf_counter()
        loss = epoch(net, opt, xt, yt, batch)
        if xv is not None:
            evaluate(net, xv, yv)
        secs = time.perf_counter() - t0
        scale = full / n_train
        print(f"{name}: batch {batch}, {n_train} training images"
              f"{' + 5000 validation' if xv is not None else ''}: {secs:.2f} s "
              f"(last loss {loss:.3f}); scaled to a full epoch: {secs * scale:.1f} s")


if __name__ == "__main__":
    main()
