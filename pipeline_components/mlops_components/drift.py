"""Input drift of a served model: how far the inputs it has been asked about lately have moved away
from the data it was trained on.

- At registration (`core.register`) the training data's statistics are logged to the model's MLflow
  run as `drift/reference.json` (`reference`): per feature, the edges of its deciles and the
  fraction of training rows in each bin, its mean and standard deviation.
- The model server (`mlops_components.serving`) keeps the last `WINDOW_ROWS` input rows (`Window`)
  and compares them with the reference: the population stability index (PSI) per feature, as the
  gauge `model_input_drift_psi{feature}` on its /metrics (the alert ModelInputDrift reads it) and as
  JSON on `GET /drift`.
- The drift check (`check`: the pipeline component `check_drift`, which a recurring run of
  pipelines/drift_pipeline.py runs on a schedule, or `python3 -m mlops_components.drift`)
  reads the server's /drift and records it in MLflow: the run `drift-<model>-v<version>` of the
  model's experiment gets `drift.psi.<feature>`, `drift.max_psi` and `drift.window_rows`, one step
  per check (the step is the check's time in minutes since 1970).

PSI = sum over bins of (current - reference) * ln(current / reference); below 0.1 the inputs look
like the training data, above 0.25 they have moved a lot (DRIFT_THRESHOLD: 0.2, the alert's).
"""

from __future__ import annotations

import argparse
import bisect
import json
import math
import os
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

REFERENCE_ARTIFACT = "drift/reference.json"
BINS = 10
# The model server's window of recent input rows, and how many it needs before it reports drift.
WINDOW_ROWS = 1000
MIN_ROWS = 50
DRIFT_THRESHOLD = 0.2
# A bin that no row fell into counts as this fraction (so that ln() stays finite).
_FLOOR = 1e-4


def reference(rows: Sequence[Mapping[str, Any]] | Any) -> dict:
    """The training data's statistics for `rows` (a pandas DataFrame, or a sequence of mappings):
    every numeric feature's inner decile edges and the fraction of rows per bin."""
    columns = _columns(rows)
    features = {}
    for name, values in columns.items():
        numbers = sorted(v for v in values if _finite(v))
        if len(numbers) < 2:
            continue
        edges = sorted({_quantile(numbers, i / BINS) for i in range(1, BINS)})
        mean = sum(numbers) / len(numbers)
        std = math.sqrt(sum((v - mean) ** 2 for v in numbers) / len(numbers))
        features[name] = {"edges": edges, "fractions": _fractions(numbers, edges), "mean": mean, "std": std}
    if not features:
        raise ValueError("drift reference: the training data has no numeric feature with 2 or more values")
    return {"version": 1, "rows": len(next(iter(columns.values()))), "bins": BINS, "features": features}


def psi(feature: Mapping[str, Any], values: Iterable[float]) -> float:
    """The population stability index of `values` against one feature's reference."""
    numbers = [float(v) for v in values if _finite(v)]
    if not numbers:
        return math.nan
    current = _fractions(numbers, feature["edges"])
    total = 0.0
    for expected, actual in zip(feature["fractions"], current, strict=True):
        expected, actual = max(expected, _FLOOR), max(actual, _FLOOR)
        total += (actual - expected) * math.log(actual / expected)
    return total


class Window:
    """The model server's last `size` input rows per feature of `stats` (thread-safe), compared with the
    reference on demand."""

    def __init__(self, stats: Mapping[str, Any], size: int = WINDOW_ROWS, min_rows: int = MIN_ROWS) -> None:
        self.stats = stats
        self.min_rows = min_rows
        self._values = {name: deque(maxlen=size) for name in stats["features"]}
        self._lock = threading.Lock()

    def add(self, frame: Any) -> None:
        """Notes the rows of an input DataFrame (columns the reference does not know are ignored)."""
        columns = getattr(frame, "columns", None)
        if columns is None:
            return
        with self._lock:
            for name, values in self._values.items():
                if name in columns:
                    values.extend(float(v) for v in frame[name].tolist() if _finite(v))

    def report(self) -> dict:
        """{"rows": n, "psi": {feature: value}} (psi empty below `min_rows` rows), and max_psi."""
        with self._lock:
            snapshot = {name: list(values) for name, values in self._values.items()}
        rows = min((len(v) for v in snapshot.values()), default=0)
        values = {}
        if rows >= self.min_rows:
            values = {name: round(psi(self.stats["features"][name], numbers), 6) for name, numbers in snapshot.items()}
        return {"rows": rows, "min_rows": self.min_rows, "psi": values,
                "max_psi": max(values.values(), default=None), "threshold": DRIFT_THRESHOLD}


def _columns(rows: Any) -> dict[str, list]:
    if hasattr(rows, "columns"):
        return {str(name): rows[name].tolist() for name in rows.columns}
    names = list(rows[0]) if rows else []
    return {name: [row[name] for row in rows] for name in names}


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _quantile(ordered: Sequence[float], q: float) -> float:
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _fractions(numbers: Sequence[float], edges: Sequence[float]) -> list[float]:
    """The fraction of `numbers` in each of the len(edges) + 1 bins (a value equal to an edge goes to the right)."""
    counts = [0] * (len(edges) + 1)
    for value in numbers:
        counts[bisect.bisect_right(edges, value)] += 1
    return [count / len(numbers) for count in counts]


# --- the drift check ------------------------------------------------------------------------------

def record(report: Mapping[str, Any], model_name: str, model_version: str, now: float) -> str:
    """Records one drift report in MLflow, in the run `drift-<model>-v<version>` of the experiment of
    the model version's training run (made on the first check); returns that run's id. MLflow's
    address and the group's identity come from the environment (the group's Secret mlops-credentials)."""
    import mlflow
    from mlflow import MlflowClient

    client = MlflowClient()
    version = client.get_model_version(model_name, model_version)
    experiment_id = client.get_run(version.run_id).info.experiment_id
    run_name = f"drift-{model_name}-v{model_version}"
    found = client.search_runs([experiment_id], filter_string=f"tags.mlflow.runName = '{run_name}'", max_results=1)
    if found:
        run_id = found[0].info.run_id
    else:
        # The fluent API, as registration: the run is recorded as the group's MLflow user.
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags={
                "mlops.drift.model": f"models:/{model_name}/{model_version}", "mlops.drift.training_run": version.run_id}) as run:
            run_id = run.info.run_id
    step = int(now // 60)
    metrics = {"drift.window_rows": float(report["rows"])}
    if report["psi"]:
        metrics["drift.max_psi"] = float(report["max_psi"])
        metrics.update({f"drift.psi.{name}": float(value) for name, value in report["psi"].items()})
    timestamp = int(now * 1000)
    client.log_batch(run_id, metrics=[mlflow.entities.Metric(key, value, timestamp, step) for key, value in sorted(metrics.items())])
    return run_id


def fetch(server: str) -> dict:
    """The model server's drift report (GET /drift); OSError when it does not answer, or has no reference."""
    with urllib.request.urlopen(f"{server.rstrip('/')}/drift", timeout=30) as response:  # noqa: S310 - the model server
        return json.load(response)


def check(server: str, model_name: str, model_version: str) -> tuple[dict, str]:
    """Fetches the server's drift report and records it in MLflow: (the report, the drift run's id)."""
    report = fetch(server)
    return report, record(report, model_name, model_version, time.time())


def summary(report: Mapping[str, Any]) -> str:
    if report["psi"]:
        return f"largest PSI {report['max_psi']:.3f} over the last {report['rows']} input rows (threshold {report['threshold']})"
    return f"too few input rows for a PSI yet ({report['rows']} of {report['min_rows']})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mlops_components.drift",
                                     description="Record a model server's input drift (its GET /drift) in MLflow.")
    parser.add_argument("--server", required=True, help="the model server's URL, e.g. http://model-iris:8080")
    parser.add_argument("--model-uri", required=True, help="models:/<name>/<version>, the model it serves")
    args = parser.parse_args(argv)
    parts = args.model_uri.split("/")
    if len(parts) != 3 or parts[0] != "models:" or not parts[2].isdigit():
        parser.error(f"--model-uri {args.model_uri!r}: expected models:/<name>/<version>")
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        parser.error("MLFLOW_TRACKING_URI is not set (the group's Secret mlops-credentials provides it)")
    try:
        report, run_id = check(args.server, parts[1], parts[2])
    except OSError as exc:
        print(f"drift check: the model server {args.server} did not answer /drift: {exc}", file=sys.stderr)
        return 1
    print(f"drift check: {args.model_uri}: {summary(report)}; recorded in MLflow run {run_id}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
