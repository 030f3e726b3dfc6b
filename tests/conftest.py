"""Shared pytest configuration: the `cuda` marker skips without a GPU; tests run on CPU threads as set."""
import pytest
import torch


def pytest_collection_modifyitems(config, items):
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device (none here); runs where one is present")
    for item in items:
        if "cuda" in item.keywords:
            item.add_marker(skip)
