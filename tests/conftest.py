"""Suite-wide settings and shared fixtures."""

import numpy as np
import pytest
import torch
from sklearn.datasets import load_breast_cancer

# The test models are tiny: one intra-op thread is faster for them than two, and keeps the suite from
# thrashing on a shared 2-core machine. Subprocess tests (CLI, torchrun) use torch's own default.
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def cancer_csv(tmp_path_factory):
    """scikit-learn's breast cancer table with string labels ("benign"/"malignant"), written as a real CSV."""
    frame = load_breast_cancer(as_frame=True).frame.copy()
    frame["diagnosis"] = np.where(frame.pop("target") == 1, "benign", "malignant")
    path = tmp_path_factory.mktemp("cancer") / "cancer.csv"
    frame.to_csv(path, index=False)
    return path
