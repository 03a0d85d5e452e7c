"""hyperparams.documented: each inherited field gets a docstring entry with the Config's default."""

import dataclasses

import pytest

from jaxrl_offline import hyperparams
from jaxrl_offline.algorithms import rebrac, td3_bc, td3_rkl


def test_inherited_fields_are_documented_with_the_configs_own_default():
    doc = td3_bc.Config.__doc__
    assert "  policy_noise: std of TD3's target policy smoothing noise" in doc
    assert "  actor_hidden_dims: actor MLP sizes (2 x 256)." in doc
    # ReBRAC keeps TD3's noise clip and changes nothing about it: the entry is the group's.
    assert "  noise_clip: clip of the smoothing noise (0.5)." in rebrac.Config.__doc__
    # TD3-RKL documents alpha itself: one entry, not also the inherited one.
    assert td3_rkl.Config.__doc__.count("\n  alpha:") == 1


def test_a_changed_default_is_written_from_the_shared_description():
    @hyperparams.documented
    @dataclasses.dataclass(frozen=True)
    class Config(hyperparams.ActorCritic):
        """Test.

        Attributes:
          extra: an extra field (1).
        """

        batch_size: int = 1024
        extra: int = 1

    assert "  batch_size: transitions per update (1024)." in Config.__doc__
    assert all(f"  {field.name}:" in Config.__doc__ for field in dataclasses.fields(Config))


def test_undocumented_fields_and_missing_sections_are_errors():
    @dataclasses.dataclass(frozen=True)
    class Undocumented(hyperparams.TDLearning):
        """Test.

        Attributes:
        """

        extra: int = 1

    with pytest.raises(ValueError, match="Undocumented.extra is undocumented"):
        hyperparams.documented(Undocumented)

    @dataclasses.dataclass(frozen=True)
    class NoSection(hyperparams.TDLearning):
        """Test without a section."""

    with pytest.raises(ValueError, match="needs an 'Attributes:' section"):
        hyperparams.documented(NoSection)
