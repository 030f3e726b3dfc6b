"""AMAN (Wei et al., ICASSP 2022, paper 001 in ``shared/papers``): attention-based magnification-adaptive networks.

Modules: :mod:`.pipeline` (TIM, onset alignment, Oh's magnifier at factors amp_1..amp_k -- Eq. 1-3 and the
amp <-> alpha convention --, the frozen ResNet-18 features of every (frame, factor) cell, cached as one bank per
clip), :mod:`.model` (the MA and FA modules, Eq. 5-10, the classifier, an optional trainable layer 4) and
:mod:`.experiment` (LOSO runs through :func:`merlib.eval.run` with a :class:`merlib.eval.Task`: Tables 1-3,
Fig. 3, the OPTIMISTIC best-test-epoch protocol of AMAN's code beside merlib's clean one, and MA's expected
factor against the synthetic subjects' true intensity). The paper's printed tables are ``reported.yaml``
(``merlib.papers.table("aman2022", ...)``). Notebook 12.

Third-party weights are read from the user's disk, never shipped: AMAN's FER+ ResNet-18
(``$MERLIB_AMAN_FERPLUS_RESNET18``, :func:`merlib.models.backbones.map_ferplus_resnet18_state_dict`) and its Oh et
al. conversion (``learning_based_mag.pth.tar``, :func:`merlib.magnify.weight_files.map_aman_state_dict`).
"""
