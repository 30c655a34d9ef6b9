"""Submits the compiled smoke pipeline once as a research group's member and prints its run's
duration: the pipeline side of the per-step overhead measurement.

Run by smoke_tests/measure_overhead.py."""

import json
import os

import kfp

with open("/tmp/pipeline.yaml", "w") as f:
    f.write(os.environ["PIPELINE_YAML"])
namespace = os.environ["NAMESPACE"]
client = kfp.Client(host=os.environ["KFP_HOST"], existing_token=os.environ["KFP_TOKEN"], namespace=namespace)
run = client.create_run_from_pipeline_package("/tmp/pipeline.yaml", arguments=json.loads(os.environ["ARGUMENTS"]),
                                              run_name="overhead-" + os.environ["MARKER"], experiment_name="measurements",
                                              namespace=namespace, enable_caching=False)
done = client.wait_for_run_completion(run.run_id, timeout=900)
print("RESULT " + json.dumps({"state": str(done.state), "seconds": (done.finished_at - done.created_at).total_seconds()}))
