"""The smoke pipeline's steps called directly in one pod, timed step by step: the baseline that
the pipeline's per-step overhead is measured against.

Run by smoke_tests/measure_overhead.py."""

import json
import time

started = time.monotonic()
from mlops_components import core  # noqa: E402 - the import's time is measured

frame = core.load_dataset("iris")
core.write_csv(frame, "/tmp/data.csv")
train, test = core.split(core.read_csv("/tmp/data.csv"), 0.25, 42)
model = core.train(train, "random_forest", 42, n_estimators=100, max_depth=5)
core.save_model(model, "/tmp/model.joblib")
scores = core.evaluate(model, test)
core.quality_gate(scores, 0.85)
registered = core.register("/tmp/model.joblib", test, "/vision/overhead-direct", "vision-iris-direct",
                           {"dataset": "iris", "seed": 42}, scores, {"measurement": "direct"})
core.serving_manifests("vision-iris-direct", registered["model_version"], "research-vision", "x")
print("RESULT " + json.dumps({"in_process_s": round(time.monotonic() - started, 2), "accuracy": scores["accuracy"]}))
