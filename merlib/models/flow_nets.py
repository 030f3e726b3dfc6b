"""Small CNNs on onset→apex optical flow: OFF-ApexNet and STSTNet (MEGC2019 baselines).

Both take the 28 × 28 flow stack of :func:`merlib.data.flow.flow_stack` — ``(B, 3, 28, 28)`` float:
channels (u, v, optical strain) — and return logits ``(B, num_classes)``.

* :class:`STSTNet` — Liong, Gan, See, Khor & Huang (2019), "Shallow Triple Stream Three-dimensional
  CNN (STSTNet) for Micro-expression Recognition", FG 2019 (arXiv:1902.03634). Built as the
  authors' released PyTorch code (``christy1206/STSTNet``, ``main.py``; MEB's ``meb/models/me_networks.py``
  matches it): three parallel 3 × 3 convolutions (padding 2) with 3, 5 and 8 filters over the
  same (u, v, strain) input, each followed by ReLU → BatchNorm → 3 × 3 max-pool (stride 3, padding 1)
  → dropout 0.5; the 16 maps are concatenated, 2 × 2 average-pooled (28 → 30 → 10 → 5) and fed to one
  linear layer (400 → classes): 1,683 parameters for 3 classes. The authors train it
  with Adam, lr 5e-5, batch 256, 800 epochs and report the last epoch.
* :class:`OFFApexNet` — Gan, Liong, Yau, Huang & Tan (2019), "OFF-ApexNet on micro-expression
  recognition system", *Signal Processing: Image Communication* 74, 129-139 (arXiv:1805.08699).
  Two streams, one for the horizontal flow u and one for the vertical flow v (each 28 × 28 × 1):
  convolution 5 × 5 with 6 filters → 2 × 2 max-pool → convolution 5 × 5 with 16 filters → 2 × 2
  max-pool (28 → 14 → 7); the two 7 × 7 × 16 outputs are concatenated (1568) and go through two fully
  connected layers of 1024 units and the output layer. The paper's layer table; the parameter count
  (2.66 M for 3 classes) matches the one published re-implementations list. merlib's choices where
  the description leaves it open: ReLU after every convolution and hidden FC layer, 'same' padding
  (so 28 → 14 → 7 as the paper's sizes), dropout 0.5 before each hidden FC layer's output. MEB's
  ``OffApexNet`` is a one-stream variant (a 2-channel 3 × 3 stem, one FC of 1024, ≈ 0.81 M
  parameters); merlib follows the paper's two streams.

merlib does not ship weights for either network (the STSTNet authors' per-subject checkpoints are
trained on licensed data); models are trained from scratch by :func:`merlib.eval.run`.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["STSTNet", "OFFApexNet", "ststnet", "off_apexnet", "count_parameters"]


def _check_input_shape(input_shape, min_channels: int, name: str) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) != 3 or shape[0] < min_channels or shape[1] < 8 or shape[2] < 8:
        raise ValueError(f"{name}: `input_shape` must be (C, H, W) with C >= {min_channels} and H, W >= 8 "
                         f"(the (u, v, strain) flow stack, 3 × 28 × 28), got {input_shape!r}")
    return shape


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


class STSTNet(nn.Module):
    """Shallow Triple Stream Three-dimensional CNN (Liong et al. 2019), as the authors' PyTorch code.

    Args:
        num_classes: outputs (3 for MEGC2019).
        input_shape: ``(C, H, W)`` of the input, default ``(3, 28, 28)`` (u, v, strain).
        dropout: dropout after each stream (0.5 in the authors' code).

    Input ``(B, C, H, W)`` float (the flow stack), output logits ``(B, num_classes)``.
    """

    STREAM_FILTERS = (3, 5, 8)

    def __init__(self, num_classes: int = 3, input_shape=(3, 28, 28), dropout: float = 0.5):
        super().__init__()
        c, h, w = _check_input_shape(input_shape, 1, "STSTNet")
        self.input_shape = (c, h, w)
        self.streams = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, k, kernel_size=3, padding=2), nn.ReLU(), nn.BatchNorm2d(k),
                          nn.MaxPool2d(kernel_size=3, stride=3, padding=1), nn.Dropout(dropout))
            for k in self.STREAM_FILTERS)
        self.avgpool = nn.AvgPool2d(kernel_size=2, stride=2)
        with torch.no_grad():
            n = self._features(torch.zeros(1, c, h, w)).shape[1]
        self.fc = nn.Linear(n, int(num_classes))

    def _features(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([s(x) for s in self.streams], dim=1)
        return torch.flatten(self.avgpool(x), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self._features(x))


class _OffStream(nn.Sequential):
    def __init__(self):
        super().__init__(nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, kernel_size=5, padding=2), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())


class OFFApexNet(nn.Module):
    """OFF-ApexNet (Gan et al. 2019): one CNN stream for u, one for v, two FC layers of 1024.

    Args:
        num_classes: outputs.
        input_shape: ``(C, H, W)`` with C >= 2: channel 0 is u, channel 1 is v (a third channel —
            the strain of :func:`merlib.data.flow.flow_stack` — is ignored, OFF-ApexNet does not use it).
        hidden: width of the two fully connected layers (1024 in the paper).
        dropout: dropout before each hidden FC layer (merlib's choice: 0.5, as MEB).

    Input ``(B, C, H, W)`` float, output logits ``(B, num_classes)``.
    """

    def __init__(self, num_classes: int = 3, input_shape=(3, 28, 28), hidden: int = 1024, dropout: float = 0.5):
        super().__init__()
        c, h, w = _check_input_shape(input_shape, 2, "OFFApexNet")
        self.input_shape = (c, h, w)
        self.stream_u, self.stream_v = _OffStream(), _OffStream()
        with torch.no_grad():
            n = self.stream_u(torch.zeros(1, 1, h, w)).shape[1]
        self.classifier = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(2 * n, hidden), nn.ReLU(),
            nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(),
            nn.Linear(hidden, int(num_classes)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] < 2:
            raise ValueError(f"OFFApexNet: input must be (B, C >= 2, H, W) with u, v first, got {tuple(x.shape)}")
        feats = torch.cat([self.stream_u(x[:, 0:1]), self.stream_v(x[:, 1:2])], dim=1)
        return self.classifier(feats)


def ststnet(num_classes: int, input_shape=(3, 28, 28)) -> STSTNet:
    """``model_fn`` for :func:`merlib.eval.run`: ``STSTNet(num_classes, input_shape)``."""
    return STSTNet(num_classes, input_shape)


def off_apexnet(num_classes: int, input_shape=(3, 28, 28)) -> OFFApexNet:
    """``model_fn`` for :func:`merlib.eval.run`: ``OFFApexNet(num_classes, input_shape)``."""
    return OFFApexNet(num_classes, input_shape)
