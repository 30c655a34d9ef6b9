"""smoke_tests/timeline.py, the arithmetic of `make bench`, on a real run's records (a smoke pipeline
run on the local cluster with Argo's default 10 s requeue, trimmed: tests/unit/data/run_timeline.json)
and on small made-up runs for the queue and GPU figures."""

import json
from pathlib import Path

import pytest

from smoke_tests import timeline as t

pytestmark = pytest.mark.unit
FIXTURE = json.loads((Path(__file__).parent / "data" / "run_timeline.json").read_text())


def recorded_run() -> t.RunTimeline:
    workloads = {w["metadata"]["name"]: w for w in FIXTURE["workloads"]}
    pods = [t.pod_times(pod, workloads, FIXTURE["logs"].get(pod["metadata"]["name"], "")) for pod in FIXTURE["pods"]]
    workflow = FIXTURE["workflow"]
    return t.RunTimeline("run", "vision", t.seconds(workflow["metadata"]["creationTimestamp"]),
                         t.seconds(workflow["status"]["finishedAt"]), pods)


def test_a_step_of_a_workflow_with_retries_is_named_by_its_task():
    pod = json.loads(json.dumps(FIXTURE["pods"][2]))  # a copy of the load-data step's pod
    annotations = pod["metadata"]["annotations"]
    annotations["workflows.argoproj.io/node-name"] = "mlops-smoke-train-psvz6(0).root(0).load-data(0).executor(1)"
    assert t.pod_times(pod, {}).task == "load-data"
    annotations["workflows.argoproj.io/node-name"] = "mlops-smoke-train-psvz6(0).root(0).load-data-driver(2)"
    assert t.pod_times(pod, {}).task == "load-data-driver"


def test_times_with_nanoseconds_and_whole_seconds_parse():
    assert t.seconds("2026-12-05T23:39:52.440533061Z") - t.seconds("2026-12-05T23:39:52Z") == pytest.approx(0.440533)
    assert t.seconds(None) is None


def test_a_recorded_run_splits_into_phases_that_add_up_to_its_wall_time():
    run = recorded_run()
    assert run.seconds == 155.0
    assert run.steps == 6
    assert [pod.task for pod in run.pods if pod.kind == "step"] == [
        "load-data", "split-data", "train-model", "evaluate-model", "register-model", "deploy-model"]
    phases = run.phases()
    assert set(phases) == set(t.PHASES)
    assert sum(phases.values()) == pytest.approx(run.seconds, abs=0.1), "a linear pipeline's phases cover its wall time"
    # register_model's executor (MLflow: log, register, wait for the version) is most of the code's time.
    register = next(pod for pod in run.pods if pod.task == "register-model")
    assert register.phases()["executor"] == pytest.approx(19.09, abs=0.01)
    assert phases["executor"] == pytest.approx(26.78, abs=0.01)
    # With Argo's 10 s requeue, half the run is nobody's pod: the controller waiting to look again.
    assert phases["argo"] == pytest.approx(77.0, abs=0.5)
    assert run.overhead_per_step() == pytest.approx((155.0 - 26.78) / 6, abs=0.01)
    assert len(run.step_overheads()) == 6
    assert all(15 < s < 25 for s in run.step_overheads())


def test_log_marks_come_from_the_emissary_executor_and_launcher_lines():
    log = "\n".join([
        '2026-12-05T23:39:52.440533061Z time="2026-12-05T23:39:52.440Z" level=info msg="capturing logs" argo=true',
        "2026-12-05T23:39:52.471479446Z I1205 23:39:52.471172      18 main.go:61] Setting log level to: '1'",
        "2026-12-05T23:39:52.563389806Z [KFP Executor 2026-12-05 23:39:52,562 INFO]: Looking for component `x`",
        "2026-12-05T23:39:52.600000000Z [KFP Executor 2026-12-05 23:39:52,600 INFO]: Got executor_input:",
        "2026-12-05T23:40:11.648580122Z I1205 23:40:11.645093      18 launcher_v2.go:877] ExecutorOutput: {",
        '2026-12-05T23:40:12.474093923Z time="2026-12-05T23:40:12.473Z" level=info msg="sub-process exited" argo=true',
    ])
    marks = t.log_marks(log)
    assert marks["executor_finished"] - marks["executor_started"] == pytest.approx(19.085, abs=0.001)
    assert marks["main_finished"] - marks["main_started"] == pytest.approx(20.034, abs=0.001)
    assert t.log_marks("no markers here") == {}


def pod(kind, created, reserved, finished, gpus=0, name="p"):
    return t.PodTimes(name=name, kind=kind, task="train-model", created=created, quota_reserved=reserved,
                      scheduled=reserved, main_started=reserved, main_finished=finished, finished=finished, gpus=gpus)


def test_queue_wait_per_tenant_is_created_to_quota_reserved():
    runs = [t.RunTimeline("a", "vision", 0, 100, [pod("step", 0, 30, 50), pod("driver", 50, 50, 55)]),
            t.RunTimeline("b", "nlp", 0, 100, [pod("step", 0, 0, 20)])]
    waits = t.queue_waits(runs)
    assert waits["vision"] == {"pods": 2, "median_pod_wait_s": 15.0, "max_pod_wait_s": 30.0, "median_run_wait_s": 30.0}
    assert waits["nlp"]["max_pod_wait_s"] == 0.0


def test_gpu_share_counts_admitted_gpu_time_while_both_tenants_have_gpu_work():
    # vision holds both GPUs from 0 to 40 (its own and one borrowed); nlp's pod waits from 10 and
    # gets one at 40; nlp's work ends at 80, vision's at 100.
    runs = [t.RunTimeline("a", "vision", 0, 100, [pod("step", 0, 0, 40, gpus=1), pod("step", 0, 0, 100, gpus=1)]),
            t.RunTimeline("b", "nlp", 10, 80, [pod("step", 10, 40, 80, gpus=1)])]
    shares = t.gpu_shares(runs)
    assert shares["contended_window_s"] == 70.0  # 10 (both have GPU work) -> 80 (nlp's last pod ends)
    assert shares["tenants"]["vision"]["gpu_s"] == 30.0 + 70.0
    assert shares["tenants"]["nlp"]["gpu_s"] == 40.0
    assert shares["tenants"]["nlp"]["share"] == pytest.approx(40 / 140, abs=0.001)


def test_no_gpu_share_without_two_tenants_using_gpus():
    runs = [t.RunTimeline("a", "vision", 0, 10, [pod("step", 0, 0, 10)])]
    assert t.gpu_shares(runs) == {"contended_window_s": 0.0, "tenants": {}}


def test_each_pod_argo_started_again_is_counted_with_its_cause():
    refused = ('Error (exit code 1): F1206 driver.go:104] Failed GetContextByTypeAndName(...): rpc error: code = '
               'Unavailable desc = connection error: desc = "transport: Error while dialing: dial tcp '
               '10.96.45.101:8080: connect: connection refused"')
    # make fault-test's object-store outage, as KFP's launcher reported it (the log's end).
    upload = ('split-data/3dfe/executor-logs": failed to close Writer for bucket: ... caused by: Put "http://object-store'
              '...:8333/...": dial tcp 10.96.72.208:8333: connect: connection refused ... failed to upload output '
              'artifact "executor-logs"')
    workflow = {"status": {"nodes": {
        "r1": {"type": "Retry", "displayName": "train-model-driver", "children": ["p1", "p2", "p3"]},
        "p1": {"type": "Pod", "phase": "Error", "message": "pod deleted"},
        "p2": {"type": "Pod", "phase": "Failed", "message": refused},
        "p3": {"type": "Pod", "phase": "Succeeded"},
        "r2": {"type": "Retry", "displayName": "executor", "children": ["p4", "p5"]},
        "p4": {"type": "Pod", "phase": "Failed", "message": "Error (exit code 143)", "outputs": {"exitCode": "143"}},
        "p5": {"type": "Pod", "phase": "Succeeded"},
        "r4": {"type": "Retry", "displayName": "split-data", "children": ["p7", "p8"]},
        "p7": {"type": "Pod", "phase": "Failed", "message": upload},
        "p8": {"type": "Pod", "phase": "Succeeded"},
        "r3": {"type": "Retry", "displayName": "load-data", "children": ["p6"]},
        "p6": {"type": "Pod", "phase": "Succeeded"},
    }}}
    assert t.restarts(workflow) == [
        {"step": "train-model-driver", "cause": "pod taken away (Argo: pod deleted)"},
        {"step": "train-model-driver", "cause": "connection refused while the NetworkPolicy engine caught up"},
        {"step": "executor", "cause": "stopped by SIGTERM (exit 143)"},
        {"step": "split-data", "cause": "an artifact's upload or download refused by the object store (restarting?)"},
    ]
    assert t.restarts({"status": {}}) == []
