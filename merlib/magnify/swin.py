"""Former home of ST-MEMM; kept so that ``from merlib.magnify.swin import STMEMM, STMEMMConfig,
ResidualSwinBlock`` still works. The network lives in :mod:`merlib.magnify.stmemm`, the shared Swin
blocks in :mod:`merlib.magnify.swin_blocks` (nothing in merlib imports this module).
"""
from merlib.magnify.stmemm import STMEMM, STMEMMConfig
from merlib.magnify.swin_blocks import ResidualSwinBlock

__all__ = ["STMEMMConfig", "STMEMM", "ResidualSwinBlock"]
