"""Linear-probe transfer (forest paper §11.2): freeze the backbone, embed the hold-out and the
test set, fit StandardScaler + multinomial logistic regression (SAGA) on the hold-out, and
report the test error."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler


def probe_error(
    train_z: np.ndarray, train_y: np.ndarray, test_z: np.ndarray, test_y: np.ndarray, seed: int
) -> dict:
    """Test error of a logistic-regression probe fitted on (train_z, train_y)."""
    model = make_pipeline(
        StandardScaler(), LogisticRegression(solver="saga", max_iter=1000, random_state=seed)
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        model.fit(train_z, train_y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    error = float(np.mean(model.predict(test_z) != test_y))
    return {"test_error": error, "converged": converged, "num_train": len(train_y)}
