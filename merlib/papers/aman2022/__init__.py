"""AMAN (ICASSP 2022, paper 001 in ``shared/papers``): this paper's room.

For now it holds only ``reported.yaml`` (the paper's printed tables, read with
``merlib.papers.table("aman2022", name)``); the paper's model, pipeline and experiment land here next,
laid out as ``merlib/papers/bai2021/`` (the template: see :mod:`merlib.papers`).
"""
