"""Building blocks the backbones are made of: ported architectures and weight-file converters.

* :mod:`merlib.models.layers.mini_xception` — the FER2013 mini-Xception in torch and its Keras HDF5 loader;
* :mod:`merlib.models.layers.vggface2_resnet50` — the Caffe-layout ResNet-50 of VGGFace2 and the key
  mapping from the public weight files to torchvision's names.
"""
