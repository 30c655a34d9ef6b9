"""The PyTorch variant of the training step (`train_torch`): a small multi-layer perceptron
classifier on the same tabular data as the scikit-learn steps, trained on the GPU when the pod has
one (`torch.cuda.is_available()`), else on the CPU.

Only training needs torch (the pipeline-torch image); it is imported inside `train_mlp`, so this
module imports without it. The trained model does not need torch: `MlpClassifier` keeps the
network's weights as numpy float32 arrays and computes the same forward pass (standardize, linear
+ ReLU, linear, softmax), so evaluate_model, register_model (mlflow.sklearn, skops) and MLflow's
model server run it in the pipeline base image, on any node, without a GPU.

Reproducible for a seed on a given kind of device: torch and the shuffling generator are seeded,
`torch.use_deterministic_algorithms(True)`, one CPU thread (the result does not depend on the
node's core count), and on CUDA the cuBLAS workspace setting that deterministic mode requires.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any

import numpy as np
import pandas as pd

from mlops_components.core import TARGET, features

TORCH_MISSING = ("PyTorch is not installed in this Python environment: train_torch runs in the pipeline-torch "
                 "image (offline/images/pipeline-torch.sh); for local runs and tests, `make pipelines-venv` "
                 "installs it from offline/images/pipeline-torch/requirements.lock")
# cuBLAS is deterministic only with a fixed workspace (PyTorch's reproducibility notes).
CUBLAS_WORKSPACE = ":4096:8"


class MlpClassifier:
    """A trained MLP as numpy: `predict` and `predict_proba` of a frame with the training features.
    The computation is float32, as in training, so the predictions are the network's."""

    def __init__(self, feature_names: list[str], mean: np.ndarray, scale: np.ndarray, weights: list[np.ndarray],
                 biases: list[np.ndarray], classes: np.ndarray) -> None:
        self.feature_names_in_ = np.asarray(feature_names, dtype=object)
        self.mean_ = np.asarray(mean, dtype=np.float32)
        self.scale_ = np.asarray(scale, dtype=np.float32)
        self.weights_ = [np.asarray(w, dtype=np.float32) for w in weights]
        self.biases_ = [np.asarray(b, dtype=np.float32) for b in biases]
        self.classes_ = np.asarray(classes)

    def _inputs(self, X) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            missing = [name for name in self.feature_names_in_ if name not in X.columns]
            if missing:
                raise ValueError(f"the input lacks the feature columns {missing}; the model was trained on "
                                 f"{list(self.feature_names_in_)}")
            X = X[list(self.feature_names_in_)]
        values = np.asarray(X, dtype=np.float32)
        if values.ndim != 2 or values.shape[1] != len(self.feature_names_in_):
            raise ValueError(f"expected rows of {len(self.feature_names_in_)} features "
                             f"({', '.join(self.feature_names_in_)}), got an array of shape {values.shape}")
        return values

    def _logits(self, X) -> np.ndarray:
        hidden = (self._inputs(X) - self.mean_) / self.scale_
        for weight, bias in zip(self.weights_[:-1], self.biases_[:-1], strict=True):
            hidden = np.maximum(hidden @ weight.T + bias, np.float32(0))
        return hidden @ self.weights_[-1].T + self.biases_[-1]

    def predict_proba(self, X) -> np.ndarray:
        logits = self._logits(X)
        exp = np.exp(logits - logits.max(axis=1, keepdims=True))
        return exp / exp.sum(axis=1, keepdims=True)

    def predict(self, X) -> np.ndarray:
        return self.classes_[np.argmax(self._logits(X), axis=1)]


def validate_settings(hidden_units: int, epochs: int, learning_rate: float, batch_size: int) -> None:
    problems = [f"{name} must be {rule} (got {value})" for name, value, ok, rule in (
        ("hidden_units", hidden_units, 1 <= hidden_units <= 4096, "between 1 and 4096"),
        ("epochs", epochs, 1 <= epochs <= 10000, "between 1 and 10000"),
        ("learning_rate", learning_rate, 0 < learning_rate <= 1, "in (0, 1]"),
        ("batch_size", batch_size, batch_size >= 1, ">= 1"),
    ) if not ok]
    if problems:
        raise ValueError("bad train_torch settings: " + "; ".join(problems))


def _import_torch():
    try:
        import torch
    except ImportError as error:
        raise RuntimeError(TORCH_MISSING) from error
    return torch


@contextmanager
def _deterministic(torch, device: str):
    """Deterministic kernels and one CPU thread while training; the process's settings afterwards."""
    previous = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads(),
                torch.backends.cudnn.benchmark)
    if device == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    torch.backends.cudnn.benchmark = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous[0])
        torch.set_num_threads(previous[1])
        torch.backends.cudnn.benchmark = previous[2]


def train_mlp(frame: pd.DataFrame, seed: int, hidden_units: int = 32, epochs: int = 200,
              learning_rate: float = 0.01, batch_size: int = 16) -> tuple[MlpClassifier, dict[str, Any]]:
    """Trains an MLP (one hidden ReLU layer, Adam, cross-entropy, shuffled mini-batches) on `frame`
    and returns it as an `MlpClassifier` with a record of where it trained: device, torch and CUDA
    versions, CUDA availability, GPU name, CPU threads and the final training loss."""
    validate_settings(hidden_units, epochs, learning_rate, batch_size)
    if TARGET not in frame.columns:
        raise ValueError(f"the data has no {TARGET!r} column (columns: {', '.join(frame.columns)})")
    inputs_frame = features(frame)
    classes, targets = np.unique(frame[TARGET].to_numpy(), return_inverse=True)
    if len(classes) < 2:
        raise ValueError(f"the training data has {len(classes)} class(es) in {TARGET!r}: a classifier needs at least 2")
    values = inputs_frame.to_numpy(dtype=np.float32)
    mean = values.mean(axis=0)
    scale = values.std(axis=0)
    scale[scale == 0] = 1  # a constant feature stays 0 after standardizing instead of dividing by zero

    torch = _import_torch()
    cuda_available = torch.cuda.is_available()
    device = "cuda" if cuda_available else "cpu"
    with _deterministic(torch, device):
        torch.manual_seed(seed)
        shuffling = torch.Generator().manual_seed(seed)
        # Built on the CPU and then moved: the same seed gives the same initial weights on either device.
        network = torch.nn.Sequential(torch.nn.Linear(values.shape[1], hidden_units), torch.nn.ReLU(),
                                      torch.nn.Linear(hidden_units, len(classes))).to(device)
        optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
        x = torch.from_numpy((values - mean) / scale).to(device)
        y = torch.from_numpy(targets.astype(np.int64)).to(device)
        network.train()
        for _ in range(epochs):
            order = torch.randperm(len(values), generator=shuffling).to(device)
            for start in range(0, len(values), batch_size):
                batch = order[start:start + batch_size]
                optimizer.zero_grad()
                loss = torch.nn.functional.cross_entropy(network(x[batch]), y[batch])
                loss.backward()
                optimizer.step()
        network.eval()
        with torch.no_grad():
            final_loss = float(torch.nn.functional.cross_entropy(network(x), y))
        linears = [layer for layer in network if isinstance(layer, torch.nn.Linear)]
        model = MlpClassifier(list(inputs_frame.columns), mean, scale,
                              [layer.weight.detach().cpu().numpy() for layer in linears],
                              [layer.bias.detach().cpu().numpy() for layer in linears], classes)
        record = {"device": device, "torch_version": torch.__version__, "cuda_available": cuda_available,
                  "cuda_version": torch.version.cuda or "none",
                  "gpu": torch.cuda.get_device_name(0) if cuda_available else "none",
                  "threads": torch.get_num_threads(), "deterministic": torch.are_deterministic_algorithms_enabled(),
                  "final_loss": round(final_loss, 6)}
    return model, record
