"""Learned motion magnifiers — one import for all of them.

* :mod:`merlib.magnify.oh2018` — Oh et al. 2018's network (``OhConfig``, ``OhMagnifier`` and parts);
* :mod:`merlib.magnify.stmemm` — ST-MEMM, the Swin magnifier of GAM-MM-MER (paper 002);
* :mod:`merlib.magnify.conv_blocks`, :mod:`merlib.magnify.swin_blocks` — the blocks they share;
* :mod:`merlib.magnify.weight_files` — merlib checkpoints and readers of the public forms of Oh et
  al.'s weights (official TF, AMAN, postech-ami, ZhengPeng7 port);
* :mod:`merlib.magnify.load` — :func:`load_magnifier`, the entry point;
* :mod:`merlib.magnify.inference` — :func:`magnify_learned` (static / dynamic / temporal modes).

Every function takes merlib's alpha (:mod:`merlib.magnify.convention`: output shows
f(x + (1+alpha)·δ); Oh et al.'s amp = 1 + alpha).
"""
from merlib.magnify.conv_blocks import Conv, ResBlock, alpha_tensor
from merlib.magnify.inference import magnify_learned
from merlib.magnify.load import ARCHITECTURES, WEIGHTS_DIR, build_magnifier, load_magnifier
from merlib.magnify.oh2018 import OhConfig, OhDecoder, OhEncoder, OhMagnifier, OhManipulator
from merlib.magnify.weight_files import (CHECKPOINT_FORMAT, map_aman_state_dict, map_official_state_dict,
                                         map_port_state_dict, map_postech_state_dict, save_magnifier)

#: Older private names, kept for code written against the single-file module.
_Conv, _alpha_tensor = Conv, alpha_tensor

__all__ = [
    "OhConfig", "OhMagnifier", "OhEncoder", "OhManipulator", "OhDecoder", "Conv", "ResBlock",
    "load_magnifier", "build_magnifier", "save_magnifier", "magnify_learned", "map_official_state_dict",
    "map_aman_state_dict", "map_postech_state_dict", "map_port_state_dict", "WEIGHTS_DIR", "ARCHITECTURES",
    "CHECKPOINT_FORMAT",
]
