"""Submits COUNT runs of a compiled pipeline at once as one research group's member and waits for
all of them: one group's share of `make bench`.

Run by smoke_tests/bench.py."""

import json
import os
from concurrent.futures import ThreadPoolExecutor

import kfp

with open("/tmp/pipeline.yaml", "w") as f:
    f.write(os.environ["PIPELINE_YAML"])
namespace = os.environ["NAMESPACE"]
client = kfp.Client(host=os.environ["KFP_HOST"], existing_token=os.environ["KFP_TOKEN"], namespace=namespace)
count = int(os.environ["COUNT"])
arguments = json.loads(os.environ["ARGUMENTS"])
ids = [client.create_run_from_pipeline_package("/tmp/pipeline.yaml", arguments=arguments,
                                               run_name=f"bench-{os.environ['MARKER']}-{i}",
                                               experiment_name="bench", namespace=namespace,
                                               enable_caching=False).run_id
       for i in range(count)]
with ThreadPoolExecutor(count) as pool:
    done = list(pool.map(lambda run_id: client.wait_for_run_completion(run_id, timeout=3000), ids))
print("RESULT " + json.dumps([{"run_id": run_id, "state": str(run.state)} for run_id, run in zip(ids, done, strict=True)]))
