"""Deterministic mini-batches: the batch of a step is a pure function of (seed, step).

Each epoch is a fresh seeded permutation, so a resumed run sees exactly the batches the
uninterrupted run would have seen, with nothing but the step number saved.
"""

from __future__ import annotations

import numpy as np


def batch_indices(num: int, batch_size: int, seed: int, step: int) -> np.ndarray:
    """Indices of training step ``step``'s batch (incomplete last batches are skipped)."""
    per_epoch = num // batch_size
    epoch, position = divmod(step, per_epoch)
    order = np.random.default_rng([seed, epoch]).permutation(num)
    return order[position * batch_size : (position + 1) * batch_size]


def eval_batches(num: int, batch_size: int, limit: int | None = None) -> list[np.ndarray]:
    """Full batches of an evaluation split (at most ``limit``) in a fixed shuffled order: a
    file may list its rows by class (ecoli.data, movement_libras.csv), and consecutive rows
    would then make batches of one or two classes. A split smaller than one batch is one
    batch of all its points, so its error is a number, not the NaN mean of no batches."""
    if 0 < num < batch_size:
        return [np.arange(num)]
    count = num // batch_size if limit is None else min(limit, num // batch_size)
    order = np.random.default_rng(0).permutation(num)  # the same batches at every evaluation
    return [np.sort(order[i * batch_size : (i + 1) * batch_size]) for i in range(count)]


def embed_all(fn, x: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """``fn`` (a compiled function of a batch: an embedding, assignments) over all rows of
    ``x`` in batches, as one numpy array."""
    return np.concatenate(
        [np.asarray(fn(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    )


def augment_images(images: np.ndarray, seed: int, step: int, pad: int = 4) -> np.ndarray:
    """CIFAR-style augmentation of a (B, H, W, C) batch: pad ``pad`` pixels with zeros, random
    crop back to (H, W), random horizontal flip; seeded by (seed, step)."""
    rng = np.random.default_rng([seed, step, 1])
    b, h, w, _ = images.shape
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    dy, dx = rng.integers(0, 2 * pad + 1, (2, b))
    rows = dy[:, None] + np.arange(h)[None, :]
    cols = dx[:, None] + np.arange(w)[None, :]
    out = padded[np.arange(b)[:, None, None], rows[:, :, None], cols[:, None, :]]
    flip = rng.random(b) < 0.5
    out[flip] = out[flip, :, ::-1]
    return out
