"""GAM-MM-MER (Heliyon 2024, paper 002 in ``shared/papers``): this paper's room.

For now it holds only ``reported.yaml`` (the paper's printed tables, read with
``merlib.papers.table("gammmer2024", name)``); the paper's model, pipeline and experiment land here next,
laid out as ``merlib/papers/bai2021/`` (the template: see :mod:`merlib.papers`).
"""
