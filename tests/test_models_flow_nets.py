"""merlib.models.flow_nets: STSTNet (authors' code) and OFF-ApexNet (the paper's two streams)."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from merlib.models.flow_nets import OFFApexNet, STSTNet, count_parameters, off_apexnet, ststnet


def _ststnet_reference_count(k: int) -> int:
    """STSTNet's parameters counted by hand from the released main.py: three 3x3 convs on 3 channels
    (3, 5, 8 filters) with biases, their BatchNorms (weight + bias), FC 5*5*16 -> k."""
    convs = sum(3 * 9 * f + f for f in (3, 5, 8))
    bns = sum(2 * f for f in (3, 5, 8))
    return convs + bns + 400 * k + k


def _offapex_reference_count(k: int) -> int:
    """Two streams conv5x5(1->6), conv5x5(6->16); FC 2*7*7*16 -> 1024 -> 1024 -> k."""
    stream = (25 * 6 + 6) + (25 * 6 * 16 + 16)
    return 2 * stream + (1568 * 1024 + 1024) + (1024 * 1024 + 1024) + (1024 * k + k)


@pytest.mark.parametrize("k", [3, 5])
def test_parameter_counts_match_the_architectures(k):
    assert count_parameters(STSTNet(k)) == _ststnet_reference_count(k)
    assert count_parameters(OFFApexNet(k)) == _offapex_reference_count(k)


def test_offapexnet_has_the_published_size():
    # 2.66 M parameters for 3 classes: the size re-implementations list for the paper's network
    assert round(count_parameters(OFFApexNet(3)) / 1e6, 2) == 2.66


def test_ststnet_shapes_follow_the_authors_code():
    net = STSTNet(3).eval()
    x = torch.randn(2, 3, 28, 28)
    maps = [s(x) for s in net.streams]
    assert [tuple(m.shape[1:]) for m in maps] == [(3, 10, 10), (5, 10, 10), (8, 10, 10)]  # 28 -> 30 -> 10
    assert net.fc.in_features == 5 * 5 * 16
    layers = [type(m) for m in net.streams[0]]
    assert layers == [nn.Conv2d, nn.ReLU, nn.BatchNorm2d, nn.MaxPool2d, nn.Dropout]        # ReLU before BN, as released
    assert net(x).shape == (2, 3)


def test_offapexnet_streams_see_only_their_own_channel():
    torch.manual_seed(0)
    net = OFFApexNet(3).eval()
    x = torch.randn(4, 3, 28, 28)
    y = net(x)
    assert y.shape == (4, 3)
    x2 = x.clone()
    x2[:, 2] = torch.randn(4, 28, 28)                       # the strain channel is not used
    torch.testing.assert_close(net(x2), y)
    x3 = x.clone()
    x3[:, 1] += 1.0                                         # v feeds the v stream
    assert not torch.allclose(net(x3), y)
    assert net.stream_u(x[:, :1]).shape == (4, 7 * 7 * 16)  # 28 -> 14 -> 7


def test_model_fns_follow_the_runner_signature_and_other_sizes():
    assert isinstance(ststnet(4, (3, 28, 28)), STSTNet)
    assert off_apexnet(2, (3, 32, 32))(torch.zeros(1, 3, 32, 32)).shape == (1, 2)
    assert ststnet(2, (2, 40, 40))(torch.zeros(1, 2, 40, 40)).shape == (1, 2)


def test_bad_shapes_are_named_errors():
    with pytest.raises(ValueError, match="input_shape"):
        OFFApexNet(3, (1, 28, 28))
    with pytest.raises(ValueError, match="input_shape"):
        STSTNet(3, (28, 28))
    with pytest.raises(ValueError, match="u, v first"):
        OFFApexNet(3)(torch.zeros(2, 1, 28, 28))


def test_both_learn_a_separable_flow_pattern():
    """A few Adam steps on a class-dependent mean motion must fit the training set."""
    torch.manual_seed(0)
    n = 24
    y = torch.arange(n) % 3
    x = torch.randn(n, 3, 28, 28) * 0.3
    x[:, 0] += (y == 0).float()[:, None, None]
    x[:, 1] += (y == 1).float()[:, None, None]
    for net in (STSTNet(3), OFFApexNet(3)):
        opt = torch.optim.Adam(net.parameters(), lr=3e-3)
        for _ in range(60):
            opt.zero_grad()
            loss = nn.functional.cross_entropy(net(x), y)
            loss.backward()
            opt.step()
        net.eval()
        assert (net(x).argmax(1) == y).float().mean().item() == 1.0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_forward_matches_cpu():
    torch.manual_seed(0)
    for net in (STSTNet(3).eval(), OFFApexNet(3).eval()):
        x = torch.randn(2, 3, 28, 28)
        torch.testing.assert_close(net.cuda()(x.cuda()).cpu(), net.cpu()(x), rtol=1e-4, atol=1e-4)
