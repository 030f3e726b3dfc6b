"""Recognition models, one module per paper, and the backbones they share (``backbones.load``)."""
