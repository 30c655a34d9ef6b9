"""Input drift (mlops_components.drift): the training data's statistics, the PSI, the server's window."""

from __future__ import annotations

import json
import math

import pytest
from mlops_components import core, drift


@pytest.fixture(scope="module")
def iris():
    return core.features(core.load_dataset("iris"))


def test_the_reference_holds_each_features_deciles_and_bin_fractions(iris):
    stats = drift.reference(iris)
    assert json.loads(json.dumps(stats)) == stats, "logged as JSON"
    assert set(stats["features"]) == set(iris.columns)
    assert stats["rows"] == len(iris)
    for name, feature in stats["features"].items():
        assert feature["edges"] == sorted(feature["edges"])
        assert len(feature["fractions"]) == len(feature["edges"]) + 1
        assert sum(feature["fractions"]) == pytest.approx(1)
        assert feature["mean"] == pytest.approx(iris[name].mean())


def test_the_training_data_does_not_drift_from_itself_and_a_shift_does(iris):
    stats = drift.reference(iris)
    for name, feature in stats["features"].items():
        assert drift.psi(feature, iris[name]) == pytest.approx(0, abs=1e-9)
        assert drift.psi(feature, iris[name] + iris[name].std()) > drift.DRIFT_THRESHOLD
        # A sample of the same distribution stays well below it.
        assert drift.psi(feature, iris[name].sample(frac=0.5, random_state=1)) < 0.1
    assert math.isnan(drift.psi(stats["features"]["sepal_length_cm"], []))


def test_the_window_reports_no_psi_until_it_has_enough_rows_and_keeps_the_last_ones(iris):
    window = drift.Window(drift.reference(iris), size=100, min_rows=50)
    window.add(iris.head(40).assign(unknown=1.0))
    assert window.report() == {"rows": 40, "min_rows": 50, "psi": {}, "max_psi": None, "threshold": drift.DRIFT_THRESHOLD}
    window.add(iris.tail(150))
    report = window.report()
    assert report["rows"] == 100, "the last 100 rows only"
    assert set(report["psi"]) == set(iris.columns)
    assert report["max_psi"] == max(report["psi"].values())
    window.add([1, 2, 3])  # not a DataFrame: ignored
    assert window.report()["rows"] == 100


def test_a_training_set_without_numeric_features_is_refused():
    with pytest.raises(ValueError, match="no numeric feature"):
        drift.reference([{"colour": "red"}, {"colour": "blue"}])


@pytest.mark.parametrize("uri", ["iris", "models:/iris", "models:/iris/latest", "runs:/abc/model"])
def test_the_drift_check_needs_a_model_version_uri(uri, capsys):
    with pytest.raises(SystemExit):
        drift.main(["--server", "http://127.0.0.1:9", "--model-uri", uri])
    assert "expected models:/<name>/<version>" in capsys.readouterr().err


def test_the_drift_check_says_when_the_server_does_not_answer(monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    assert drift.main(["--server", "http://127.0.0.1:9", "--model-uri", "models:/iris/1"]) == 1
    assert "the model server http://127.0.0.1:9 did not answer /drift" in capsys.readouterr().err
