"""The PyTorch training step's logic (mlops_components.torch_mlp), run for real with the torch of
the pipelines venv (`make pipelines-venv` installs the pipeline-torch image's lock): the same seed
gives the same network, metrics and predictions; the numpy model predicts what the torch network
does and loads, evaluates and registers without torch; bad settings are refused by name; the
device it trained on is recorded."""

import json
import subprocess
import sys

import numpy as np
import pytest
from mlops_components import core, torch_mlp

from tests.support.needs_torch import require_torch

pytestmark = pytest.mark.unit
SETTINGS = {"hidden_units": 16, "epochs": 60, "learning_rate": 0.01, "batch_size": 16}
# A Python in which `import torch` fails, as in the pipeline base image.
NO_TORCH = """import json, sys
class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ImportError("torch is not installed here")
sys.meta_path.insert(0, NoTorch())
"""


@pytest.fixture(scope="module")
def torch():
    return require_torch()


@pytest.fixture(scope="module")
def iris_split():
    return core.split(core.load_dataset("iris"), 0.25, seed=42)


@pytest.fixture(scope="module")
def trained(torch, iris_split):
    train, _ = iris_split
    return torch_mlp.train_mlp(train, seed=42, **SETTINGS)


def test_one_seed_gives_the_same_network_metrics_and_predictions_above_the_gate(torch, iris_split, trained, tmp_path):
    train, test = iris_split
    first, record = trained
    second, again = torch_mlp.train_mlp(train, seed=42, **SETTINGS)
    for mine, theirs in zip(first.weights_ + first.biases_, second.weights_ + second.biases_, strict=True):
        assert np.array_equal(mine, theirs), "the same seed gave different weights"
    assert record == again
    inputs = core.features(test)
    assert np.array_equal(first.predict(inputs), second.predict(inputs))
    assert np.array_equal(first.predict_proba(inputs), second.predict_proba(inputs))
    scores = core.evaluate(first, test)
    assert scores == core.evaluate(second, test)
    assert scores["accuracy"] >= 0.85, scores
    core.quality_gate(scores, 0.85)
    # The same bytes: the pipeline records the model file's SHA-256 and compares runs by it.
    assert core.save_model(first, str(tmp_path / "a.joblib")) == core.save_model(second, str(tmp_path / "b.joblib"))


def test_another_seed_gives_another_network(torch, iris_split, trained):
    other, _ = torch_mlp.train_mlp(iris_split[0], seed=43, **SETTINGS)
    assert not np.array_equal(other.weights_[0], trained[0].weights_[0])


def test_the_numpy_model_predicts_what_the_torch_network_does(torch, iris_split, trained):
    model, _ = trained
    network = torch.nn.Sequential(torch.nn.Linear(4, SETTINGS["hidden_units"]), torch.nn.ReLU(),
                                  torch.nn.Linear(SETTINGS["hidden_units"], 3))
    linears = [network[0], network[2]]
    with torch.no_grad():
        for layer, weight, bias in zip(linears, model.weights_, model.biases_, strict=True):
            layer.weight.copy_(torch.from_numpy(weight))
            layer.bias.copy_(torch.from_numpy(bias))
        test = core.features(iris_split[1]).to_numpy(dtype=np.float32)
        probabilities = torch.softmax(network(torch.from_numpy((test - model.mean_) / model.scale_)), dim=1).numpy()
    np.testing.assert_allclose(model.predict_proba(test), probabilities, rtol=1e-5, atol=1e-6)
    assert np.array_equal(model.predict(test), model.classes_[probabilities.argmax(axis=1)])


def test_the_device_and_runtime_are_recorded_and_the_process_settings_restored(torch, iris_split):
    before = (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads())
    _, record = torch_mlp.train_mlp(iris_split[0], seed=1, **{**SETTINGS, "epochs": 2})
    expected_device = "cuda" if torch.cuda.is_available() else "cpu"
    assert record["device"] == expected_device
    assert record["cuda_available"] is torch.cuda.is_available()
    assert record["torch_version"] == torch.__version__
    assert record["cuda_version"] == (torch.version.cuda or "none")
    assert record["deterministic"] is True
    assert record["threads"] == 1
    assert record["final_loss"] > 0
    assert (torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()) == before


@pytest.mark.parametrize(("settings", "message"), [
    ({"hidden_units": 0}, r"hidden_units must be between 1 and 4096 \(got 0\)"),
    ({"epochs": 0}, r"epochs must be between 1 and 10000 \(got 0\)"),
    ({"learning_rate": 0.0}, r"learning_rate must be in \(0, 1\] \(got 0.0\)"),
    ({"learning_rate": 2.0}, r"learning_rate must be in \(0, 1\] \(got 2.0\)"),
    ({"batch_size": 0}, r"batch_size must be >= 1 \(got 0\)"),
    ({"hidden_units": -1, "batch_size": -2}, r"hidden_units .* \(got -1\); batch_size must be >= 1 \(got -2\)"),
])
def test_bad_settings_are_refused_by_name(iris_split, settings, message):
    with pytest.raises(ValueError, match=r"bad train_torch settings: " + message):
        torch_mlp.train_mlp(iris_split[0], seed=1, **{**SETTINGS, **settings})


def test_data_it_cannot_learn_from_is_refused(iris_split):
    train = iris_split[0]
    with pytest.raises(ValueError, match="no 'target' column"):
        torch_mlp.train_mlp(train.drop(columns=[core.TARGET]), seed=1)
    with pytest.raises(ValueError, match="1 class"):
        torch_mlp.train_mlp(train[train[core.TARGET] == 0], seed=1)


def test_without_torch_training_says_where_torch_comes_from(monkeypatch, iris_split):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    with pytest.raises(RuntimeError, match=r"pipeline-torch image.*make pipelines-venv"):
        torch_mlp.train_mlp(iris_split[0], seed=1)


def test_input_without_the_training_columns_is_refused(trained, iris_split):
    model, _ = trained
    inputs = core.features(iris_split[1])
    with pytest.raises(ValueError, match=r"lacks the feature columns \['petal_width_cm'\]"):
        model.predict(inputs.drop(columns=["petal_width_cm"]))
    with pytest.raises(ValueError, match=r"expected rows of 4 features"):
        model.predict(inputs.to_numpy()[:, :3])
    # Columns in another order are put back in the training order.
    assert np.array_equal(model.predict(inputs[inputs.columns[::-1]]), model.predict(inputs))


def test_the_saved_model_evaluates_in_a_python_without_torch(trained, iris_split, tmp_path):
    """What evaluate_model does in the pipeline base image, which has no torch."""
    model, _ = trained
    path = tmp_path / "model.joblib"
    core.save_model(model, str(path))
    _, test = iris_split
    core.write_csv(test, str(tmp_path / "test.csv"))
    script = (NO_TORCH +
              "from mlops_components import core\n"
              f"scores = core.evaluate(core.load_model({str(path)!r}), core.read_csv({str(tmp_path / 'test.csv')!r}))\n"
              "assert 'torch' not in sys.modules\n"
              "print(json.dumps(scores))")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == core.evaluate(model, test)


def test_the_model_registers_in_mlflow_and_loads_back_as_mlflow_serves_it(trained, iris_split, tmp_path, monkeypatch):
    """register_model's path (mlflow.sklearn with skops) and the loader of MLflow's model server."""
    import mlflow

    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    model, record = trained
    path = str(tmp_path / "model.joblib")
    core.save_model(model, path)
    _, test = iris_split
    result = core.register(path, test, "/unit/torch", "unit-mlp", {"hidden_units": 16},
                           core.evaluate(model, test), {"train.device": record["device"]})
    served = mlflow.pyfunc.load_model(result["model_uri"])
    inputs = core.features(test)
    assert np.array_equal(np.asarray(served.predict(inputs)), model.predict(inputs))
    run = mlflow.get_run(result["run_id"])
    assert run.data.tags["train.device"] == record["device"]


def test_the_component_runs_in_the_torch_image_and_installs_nothing_at_run_time():
    from mlops_components import components

    container = components.train_torch.component_spec.implementation.container
    assert container.image == components.TORCH_IMAGE
    assert "pip install" not in " ".join(container.command)
