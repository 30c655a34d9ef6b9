"""As a person with a token (or none): what the KFP API answers. Prints the HTTP status of each call.

Run by tests/platform/test_platform.py."""

import json
import os
import urllib.error
import urllib.request

api = os.environ["KFP_HOST"]

def call(method, path, token=None, body=None, headers=None):
    request = urllib.request.Request(api + path, method=method, data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Content-Type": "application/json", **(headers or {}),
                                              **({"Authorization": "Bearer " + token} if token else {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, {}

alice, bob = os.environ["ALICE"], os.environ["BOB"]
vision, nlp = os.environ["VISION"], os.environ["NLP"]
status, body = call("GET", f"/apis/v2beta1/runs?namespace={vision}&page_size=5", alice)
runs = body.get("runs", [])
run_id = runs[0]["run_id"] if runs else ""
status_exp, body_exp = call("GET", f"/apis/v2beta1/experiments?namespace={vision}&page_size=5", alice)
experiment_id = (body_exp.get("experiments") or [{}])[0].get("experiment_id", "")
result = {
    "alice_lists_vision_runs": status, "vision_runs": len(runs), "alice_lists_vision_experiments": status_exp,
    "bob_lists_vision_runs": call("GET", f"/apis/v2beta1/runs?namespace={vision}", bob)[0],
    "bob_gets_alice_run": call("GET", f"/apis/v2beta1/runs/{run_id}", bob)[0],
    "bob_deletes_alice_run": call("DELETE", f"/apis/v2beta1/runs/{run_id}", bob)[0],
    "bob_lists_vision_experiments": call("GET", f"/apis/v2beta1/experiments?namespace={vision}", bob)[0],
    "bob_gets_alice_experiment": call("GET", f"/apis/v2beta1/experiments/{experiment_id}", bob)[0],
    "bob_creates_experiment_in_vision": call("POST", "/apis/v2beta1/experiments", bob,
                                             {"display_name": "bob-was-here", "namespace": vision})[0],
    "bob_lists_nlp_runs": call("GET", f"/apis/v2beta1/runs?namespace={nlp}", bob)[0],
    "no_token_lists_vision_runs": call("GET", f"/apis/v2beta1/runs?namespace={vision}")[0],
    "forged_token_lists_vision_runs": call("GET", f"/apis/v2beta1/runs?namespace={vision}", "not-a-token")[0],
    # Upstream trusts this header without a mesh; here no header names a user.
    "header_claims_alice": call("GET", f"/apis/v2beta1/runs?namespace={vision}",
                                headers={"kubeflow-userid": "system:serviceaccount:mlops-people:alice"})[0],
    "run_id": run_id, "experiment_id": experiment_id,
}
print("RESULT " + json.dumps(result))
