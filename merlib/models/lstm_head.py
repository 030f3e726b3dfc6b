"""An LSTM over a sequence of per-frame feature vectors, then a linear classifier.

The temporal head of two papers: CMNet (Wei et al., AAAI 2023: "a LSTM is used to capture the dependencies
in the sequence and aggregates them into a vector v", unidirectional) and Bai et al. (ICIP 2021: a
Bi-LSTM over N-frame segments). ``v`` is the last layer's final hidden state (both directions
concatenated when bidirectional).

Shapes: ``seq`` is ``(B, T, D)`` float; :meth:`LSTMHead.encode` returns ``v`` ``(B, H)`` or ``(B, 2H)``,
:meth:`LSTMHead.forward` the logits ``(B, num_classes)``.
"""
from __future__ import annotations

import torch
from torch import nn

__all__ = ["LSTMHead"]


class LSTMHead(nn.Module):
    """``(B, T, D)`` → LSTM → final hidden state ``v`` → dropout → linear → ``(B, num_classes)``.

    Args:
        input_dim: D.
        hidden: hidden size per direction.
        num_classes: output size.
        bidirectional: a Bi-LSTM (Bai et al.) or a plain LSTM (CMNet).
        num_layers: stacked LSTM layers.
        dropout: dropout on ``v`` before the classifier (and between stacked layers).
    """

    def __init__(self, input_dim: int, hidden: int, num_classes: int, bidirectional: bool = False,
                 num_layers: int = 1, dropout: float = 0.0):
        super().__init__()
        for name, v in (("input_dim", input_dim), ("hidden", hidden), ("num_classes", num_classes),
                        ("num_layers", num_layers)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 1:
                raise ValueError(f"LSTMHead: `{name}` must be a positive int, got {v!r}")
        if not 0 <= dropout < 1:
            raise ValueError(f"LSTMHead: `dropout` must be in [0, 1), got {dropout!r}")
        self.lstm = nn.LSTM(input_dim, hidden, num_layers=num_layers, batch_first=True,
                            bidirectional=bidirectional, dropout=dropout if num_layers > 1 else 0.0)
        self.out_dim = hidden * (2 if bidirectional else 1)
        self.drop = nn.Dropout(dropout)
        self.fc = nn.Linear(self.out_dim, num_classes)

    def encode(self, seq: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` → ``v`` ``(B, out_dim)``: the final hidden state of the last layer."""
        if seq.ndim != 3:
            raise ValueError(f"LSTMHead: `seq` must be (B, T, D), got shape {tuple(seq.shape)}")
        _, (h, _) = self.lstm(seq)
        if self.lstm.bidirectional:
            return torch.cat([h[-2], h[-1]], dim=-1)
        return h[-1]

    def forward(self, seq: torch.Tensor) -> torch.Tensor:
        return self.fc(self.drop(self.encode(seq)))
