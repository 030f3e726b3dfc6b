"""MMFRN (Complex & Intelligent Systems 2022, paper 000 in ``shared/papers``): feature-space magnification + ResNet-50
+ two frame-relation modules, over the four key frames of a clip. Notebook 11.

Modules: :mod:`.model` (Fig. 4's spatial feature amplification network on Oh et al.'s encoder, the manipulator
without the original, the redesigned decoder, the relation modules of Eq. 7-11 from
:mod:`merlib.models.relation`, merlib's frame geometry), :mod:`.pipeline` (the key frames of Fig. 3b, the SSIM
difference frame of Eq. 14, the frozen and cached encoders) and :mod:`.experiment` (LOSO runs through
:func:`merlib.eval.run`: the α curve of Table 4, Fig. 8-9, Table 5, Table 6, the paper's Table 2 protocol and
merlib's clean one). The paper's printed tables are ``reported.yaml`` beside them
(``merlib.papers.table("mmfrn2022", name)``). α: the paper quotes Oh et al.'s factor ``α_oh``; merlib's
``alpha = α_oh − 1`` (:mod:`merlib.magnify.convention`).
"""
