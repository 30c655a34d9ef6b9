"""The components' logic, run for real on the bundled datasets (no mocks): data, split, training,
evaluation, the quality gate, the serving manifests; and the KFP component interfaces."""

import json

import pytest
from mlops_components import core

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("name", sorted(core.DATASETS))
def test_every_bundled_dataset_loads_offline_with_safe_column_names_and_an_integer_target(name):
    frame = core.load_dataset(name)
    assert len(frame) > 100
    assert frame[core.TARGET].dtype.kind == "i"
    for column in frame.columns:
        assert column.replace("_", "").isalnum(), column


def test_an_unknown_dataset_is_refused_with_the_names_that_exist():
    with pytest.raises(ValueError, match=r"unknown dataset 'mnist'.*breast_cancer, digits, iris, wine"):
        core.load_dataset("mnist")


def test_the_dataset_csv_has_the_same_bytes_every_time(tmp_path):
    first = core.write_csv(core.load_dataset("iris"), str(tmp_path / "a.csv"))
    second = core.write_csv(core.load_dataset("iris"), str(tmp_path / "b.csv"))
    assert first == second == core.file_sha256(str(tmp_path / "a.csv"))
    assert len(first) == 64
    assert core.read_csv(str(tmp_path / "a.csv")).shape == (150, 5)


def test_the_split_is_stratified_and_the_same_for_the_same_seed():
    frame = core.load_dataset("iris")
    train, test = core.split(frame, 0.2, seed=7)
    again_train, again_test = core.split(frame, 0.2, seed=7)
    _, other_test = core.split(frame, 0.2, seed=8)
    assert len(test) == 30
    assert len(train) == 120
    assert test.equals(again_test)
    assert train.equals(again_train)
    assert not test.equals(other_test)
    assert test[core.TARGET].value_counts().to_dict() == {0: 10, 1: 10, 2: 10}


@pytest.mark.parametrize("test_size", [0.0, 0.9])
def test_a_test_size_outside_the_allowed_range_is_refused(test_size):
    with pytest.raises(ValueError, match=f"test_size={test_size} is outside"):
        core.split(core.load_dataset("iris"), test_size, seed=1)


@pytest.mark.parametrize("model_type", core.MODEL_TYPES)
def test_training_twice_with_one_seed_gives_identical_metrics_above_the_gate(model_type, tmp_path):
    train, test = core.split(core.load_dataset("iris"), 0.25, seed=42)
    first = core.train(train, model_type, seed=42)
    second = core.train(train, model_type, seed=42)
    assert core.evaluate(first, test) == core.evaluate(second, test)
    scores = core.evaluate(first, test)
    assert scores["accuracy"] >= 0.85
    assert scores["test_rows"] == len(test)
    core.quality_gate(scores, 0.85)
    path = str(tmp_path / "model.joblib")
    core.save_model(first, path)
    assert (core.load_model(path).predict(core.features(test)) == first.predict(core.features(test))).all()


def test_the_quality_gate_fails_below_the_threshold_and_names_both_numbers():
    with pytest.raises(core.QualityGateError, match=r"accuracy 0.8000 < min_accuracy 0.9000"):
        core.quality_gate({"accuracy": 0.8}, 0.9)


@pytest.mark.parametrize(("model_type", "params", "message"), [
    ("svm", {}, "unknown model_type 'svm'"),
    ("random_forest", {"n_estimators": 0}, "n_estimators >= 1"),
    ("logistic_regression", {"c": 0}, "c > 0"),
])
def test_bad_model_settings_are_refused(model_type, params, message):
    with pytest.raises(ValueError, match=message):
        core.build_model(model_type, 1, **params)


def test_outside_a_pod_the_image_says_so(monkeypatch):
    monkeypatch.delenv("KFP_POD_NAME", raising=False)
    assert core.running_image() == {"image": core.NOT_IN_A_POD, "image_id": core.NOT_IN_A_POD}


def test_registering_without_mlflow_settings_names_what_is_missing(monkeypatch, tmp_path):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    with pytest.raises(RuntimeError, match="MLFLOW_TRACKING_URI is not set"):
        core.register(str(tmp_path / "none"), core.load_dataset("iris"), "/x/e", "m", {}, {}, {})


def test_a_step_that_loses_the_race_to_create_the_experiment_logs_into_it(monkeypatch, tmp_path):
    """Two steps of concurrent runs create one experiment: the one whose create fails because the
    other's just landed must still log into it (MLflow 3's set_experiment then returns it without
    making it active; a run in the default experiment is outside the group's workspace: 403)."""
    import mlflow
    from mlflow.tracking._tracking_service.client import TrackingServiceClient

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # the pipeline image has no SQL store
    lookup = TrackingServiceClient.get_experiment_by_name
    raced = []

    def lookup_then_lose_the_race(self, name):
        if not raced:  # the other step creates the experiment right after this step looked
            raced.append(mlflow.MlflowClient().create_experiment(name))
            return None
        return lookup(self, name)

    monkeypatch.setattr(TrackingServiceClient, "get_experiment_by_name", lookup_then_lose_the_race)
    train, test = core.split(core.load_dataset("iris"), 0.25, seed=42)
    path = str(tmp_path / "model.joblib")
    core.save_model(core.train(train, "logistic_regression", seed=42), path)
    result = core.register(path, test, "/vision/raced", "raced-model", {"seed": "42"}, {"accuracy": 1.0}, {})
    assert raced, "the race was not staged"
    run = mlflow.MlflowClient().get_run(result["run_id"])
    assert run.info.experiment_id == raced[0], \
        f"the run went to experiment {run.info.experiment_id}, not to /vision/raced ({raced[0]})"


def test_serving_manifests_meet_the_restricted_pod_security_level_and_set_resources():
    deployment, service = core.serving_manifests("Vision Iris_Classifier", "3", "research-vision",
                                                  "registry.example.edu/pipeline-base:1")
    assert deployment["metadata"]["name"] == service["metadata"]["name"] == "model-vision-iris-classifier"
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["automountServiceAccountToken"] is False
    security = container["securityContext"]
    assert security["runAsNonRoot"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"]["type"] == "RuntimeDefault"
    assert set(container["resources"]) == {"requests", "limits"}
    assert "models:/Vision Iris_Classifier/3" in container["command"]
    from_secret = {e["valueFrom"]["secretKeyRef"]["name"]: set() for e in container["env"] if "valueFrom" in e}
    for e in container["env"]:
        if "valueFrom" in e:
            from_secret[e["valueFrom"]["secretKeyRef"]["name"]].add(e["valueFrom"]["secretKeyRef"]["key"])
    assert from_secret == {"mlflow-reader": {"MLFLOW_TRACKING_URI", "MLFLOW_WORKSPACE", "MLFLOW_TRACKING_USERNAME",
                                             "MLFLOW_TRACKING_PASSWORD", "MLFLOW_ENABLE_PROXY_MULTIPART_DOWNLOAD"}}, \
        "the server reads its model as the research group's read-only MLflow user, which the platform keeps"
    assert not any("PASSWORD" in e["name"] and "value" in e for e in container["env"])
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert core.endpoint("Vision Iris_Classifier", "research-vision") == \
        "http://model-vision-iris-classifier.research-vision.svc.cluster.local:8080"


def test_object_names_are_rfc1123_labels():
    assert core.dns_name("A" * 80 + "--") == ("model-" + "a" * 80)[:63]
    assert core.dns_name("x__y..z") == "model-x-y-z"


def test_the_invocation_body_is_mlflows_dataframe_split_without_the_target():
    body = core.invocation_body(core.load_dataset("iris").head(2))
    assert body["dataframe_split"]["columns"] == ["sepal_length_cm", "sepal_width_cm", "petal_length_cm", "petal_width_cm"]
    assert len(body["dataframe_split"]["data"]) == 2
    json.dumps(body)


def test_the_components_run_in_the_platform_image_and_install_nothing_at_run_time():
    from mlops_components import components

    for name in ("load_data", "split_data", "train_model", "evaluate_model", "register_model", "deploy_model"):
        spec = getattr(components, name).component_spec
        container = spec.implementation.container
        assert container.image == components.BASE_IMAGE, name
        assert "pip install" not in " ".join(container.command), name
