"""The shared `from_dict` key check used by every config/spec dataclass saved as JSON."""
import pytest

from merlib.data.synthetic.face import Identity
from merlib.data.synthetic.spec import NuisanceParams
from merlib.magnify.learned import OhConfig
from merlib.magnify.swin import STMEMMConfig


@pytest.mark.parametrize("cls", [OhConfig, STMEMMConfig, Identity, NuisanceParams])
def test_round_trip_and_unknown_keys_are_named(cls):
    obj = cls()
    assert cls.from_dict(obj.to_dict()) == obj
    with pytest.raises(ValueError, match=rf"{cls.__name__}\.from_dict: unknown keys \['typo_key'\]"):
        cls.from_dict({**obj.to_dict(), "typo_key": 1})
