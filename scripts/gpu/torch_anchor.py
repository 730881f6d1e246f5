#!/usr/bin/env python3
"""The side-by-side anchor of the `gpu` benchmark suite: the same work in PyTorch (cuDNN) and
torchvision's deform_conv2d on the same GPU, as medians in milliseconds (JSON on stdout).

  python3 scripts/gpu/torch_anchor.py [--quick] [--tf32]

Work measured (the shapes scripts/bench/gpu.ts uses):
  resnet34_plain   one Adam training step of torchvision's ResNet-34 (7x7-s2 stem + max pool),
                   batch 64, 32x32x3, 10 classes
  resnet34_deform  the same with every 3x3 conv of the residual stages a torchvision
                   DeformConv2d fed by a zero-initialised 3x3 offset conv (mmcv's DCN pack)
  dcn_forward, dcn_forward_backward   one deform_conv2d layer: N8 C64 32x32 -> 64, 3x3, pad 1,
                   mask on, offsets uniform in [-2, 2]
TF32 is off unless --tf32 (torch.backends.{cuda.matmul,cudnn}.allow_tf32), matching flexconv's
strict-FP32 default.
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.ops import DeformConv2d, deform_conv2d


class DeformPack(nn.Module):
    """torchvision DeformConv2d with its own zero-initialised offset predictor."""

    def __init__(self, conv):
        super().__init__()
        self.conv_offset = nn.Conv2d(conv.in_channels, 18, 3, conv.stride, 1)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)
        self.dcn = DeformConv2d(conv.in_channels, conv.out_channels, 3, conv.stride, 1, bias=False)

    def forward(self, x):
        return self.dcn(x, self.conv_offset(x))


def deformify(model):
    for block in [b for layer in (model.layer1, model.layer2, model.layer3, model.layer4) for b in layer]:
        block.conv1 = DeformPack(block.conv1)
        block.conv2 = DeformPack(block.conv2)
    return model


def median_ms(fn, warmup, iters):
    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iters):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    times.sort()
    return times[len(times) // 2]


def train_step_ms(model, batch, warmup, iters):
    model = model.cuda().train()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, 3, 32, 32, device='cuda')
    y = torch.arange(batch, device='cuda') % 10

    def step():
        opt.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return median_ms(step, warmup, iters)


def main():
    quick = '--quick' in sys.argv
    tf32 = '--tf32' in sys.argv
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    batch = 16 if quick else 64
    warmup, iters = (2, 5) if quick else (5, 20)
    out = {
        'torch': torch.__version__, 'torchvision': torchvision.__version__, 'gpu': torch.cuda.get_device_name(0),
        'cudnn': torch.backends.cudnn.version(), 'tf32': tf32, 'batch': batch,
    }
    make = lambda: torchvision.models.resnet34(num_classes=10)  # noqa: E731
    out['resnet34_plain'] = train_step_ms(make(), batch, warmup, iters)
    out['resnet34_deform'] = train_step_ms(deformify(make()), batch, warmup, iters)
    x = torch.rand(8, 64, 32, 32, device='cuda', requires_grad=True)
    off = (torch.rand(8, 18, 32, 32, device='cuda') * 4 - 2).requires_grad_()
    mask = torch.rand(8, 9, 32, 32, device='cuda', requires_grad=True)
    w = (torch.randn(64, 64, 3, 3, device='cuda') * 0.05).requires_grad_()
    g = torch.randn(8, 64, 32, 32, device='cuda')
    with torch.no_grad():
        out['dcn_forward'] = median_ms(lambda: deform_conv2d(x, off, w, padding=1, mask=mask), warmup, iters)
    out['dcn_forward_backward'] = median_ms(
        lambda: torch.autograd.backward(deform_conv2d(x, off, w, padding=1, mask=mask), g), warmup, iters)
    print(json.dumps(out))


if __name__ == '__main__':
    main()
