"""The semi-supervised split (forest paper §11.2): sizes, balance, no leakage, withheld
classes never labelled, half-labelled batches; all a pure function of the seed."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from diffclust.errors import UserError
from diffclust.splits import FullSplitConfig, SemiSplitConfig, full_split, semi_split

LABELS = np.random.default_rng(0).integers(0, 10, 6000)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([10, 100, 250, 1000]), st.integers(0, 6), st.integers(0, 10**6))
def test_semi_split_partitions_without_leakage(n_labelled, k_withheld, seed):
    cfg = SemiSplitConfig(n_labelled=n_labelled, k_withheld=k_withheld)
    split = semi_split(cfg, LABELS, seed)
    labelled, unlabelled = split.pools
    # Sizes and balance: 100 hold-out points per class, n_labelled labelled ones.
    assert np.bincount(LABELS[split.holdout], minlength=10).tolist() == [100] * 10
    assert len(labelled) == n_labelled and split.known.sum() == n_labelled
    # Hold-out, labelled and unlabelled points partition the training split.
    parts = np.concatenate([split.holdout, labelled, unlabelled])
    assert sorted(parts.tolist()) == list(range(len(LABELS)))
    # The first k_withheld classes are never labelled (they stay among the unlabelled).
    assert (LABELS[labelled] >= k_withheld).all()
    assert set(range(k_withheld)) <= set(LABELS[unlabelled].tolist())
    again = semi_split(cfg, LABELS, seed)
    np.testing.assert_array_equal(again.known, split.known)


def test_batches_are_half_labelled_and_never_show_withheld_labels():
    split = semi_split(SemiSplitConfig(n_labelled=250, k_withheld=3), LABELS, seed=0)
    for step in range(200):
        idx = split.batch(64, seed=0, step=step)
        known = split.known[idx]
        assert known.sum() == 32 and len(np.unique(idx)) == 64
        assert (LABELS[idx][known] >= 3).all()
        assert not np.isin(idx, split.holdout).any()
    np.testing.assert_array_equal(split.batch(64, 0, 5), split.batch(64, 0, 5))


def test_full_split_uses_every_label():
    split = full_split(FullSplitConfig(), LABELS, seed=0)
    assert split.known.all() and len(split.holdout) == 0
    assert len(np.unique(split.batch(64, 0, 0))) == 64


@pytest.mark.parametrize(
    ("cfg", "message"),
    [
        (SemiSplitConfig(n_labelled=10**6), "split.n_labelled"),
        (SemiSplitConfig(holdout_per_class=10**4), "holdout_per_class"),
        (SemiSplitConfig(labelled_fraction=1.5), "labelled_fraction"),
    ],
)
def test_impossible_splits_are_clear_errors(cfg, message):
    with pytest.raises(UserError, match=message):
        semi_split(cfg, LABELS, seed=0)


def test_too_few_labels_for_the_batch_share():
    split = semi_split(SemiSplitConfig(n_labelled=10), LABELS, seed=0)
    with pytest.raises(UserError, match="lower train.batch_size"):
        split.batch(64, 0, 0)
