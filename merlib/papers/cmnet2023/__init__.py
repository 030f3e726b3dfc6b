"""CMNet (Wei et al., AAAI 2023): contrastive intensity distillation + Wilcoxon rank-sum tendency loss.

Modules: :mod:`.wilcoxon` (Eq. 5-9, hard and soft ranks), :mod:`.prototype` (Eq. 2-4), :mod:`.sampling`
(Table 2's negative samplers), :mod:`.losses` (Eq. 1, Eq. 10), :mod:`.views` (16 frames, two augmented
views), :mod:`.features` (the frozen, cached ResNet-18 prefix), :mod:`.model` (Fig. 1) and
:mod:`.experiment` (LOSO runs through :func:`merlib.eval.run`, Tables 1-3, Fig. 5). The paper's printed
tables are ``reported.yaml`` beside them (``merlib.papers.table("cmnet2023", ...)``). Notebook 13.
"""
