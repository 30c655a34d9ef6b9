# The project's commands. `make help` lists them.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

include offline/versions.env

PYTHON ?= python3
VENV := .venv
# The pipeline base image's Python packages (its requirements.lock), the PyTorch image's additions
# (its requirements.lock: torch and the CUDA runtime wheels, several GB) and pytest: the components'
# tests and the local pipeline runs use the same versions as the cluster's pipeline pods.
PIPELINES_VENV := .venv-pipelines
PIPELINES_LOCK := offline/images/pipeline-base/requirements.lock
PIPELINES_TORCH_LOCK := offline/images/pipeline-torch/requirements.lock
CACHE_DIR ?= $(or $(MLOPS_CACHE_DIR),$(or $(XDG_CACHE_HOME),$(HOME)/.cache)/mlops-platform)
export MLOPS_CACHE_DIR := $(CACHE_DIR)
# Keyed by what it installs: the two locks, the constraints and requirements-dev.txt's pytest pin only
# (another dev tool's pin must not make a second copy of these 6 GB).
PIPELINES_PACKAGES := $(CACHE_DIR)/venvs/pipelines-$(shell { cat $(PIPELINES_LOCK) $(PIPELINES_TORCH_LOCK) constraints.txt; grep '^pytest==' requirements-dev.txt; } | sha256sum | cut -c1-16)
export PATH := $(CACHE_DIR)/bin:$(CURDIR)/$(VENV)/bin:$(PATH)
export PULUMI_SKIP_UPDATE_CHECK := true
export PULUMI_DIY_BACKEND_NO_LEGACY_WARNING := true
RENDER_DIR ?= $(CURDIR)/build/render
# The cluster make's commands talk to: MLOPS_CLUSTER_NAME from the environment (make test's throw-away
# cluster runs `make alerts` so), else mlops.
CLUSTER_NAME ?= $(or $(MLOPS_CLUSTER_NAME),mlops)
export MLOPS_CLUSTER_NAME := $(CLUSTER_NAME)
export KUBECONFIG := $(CACHE_DIR)/$(CLUSTER_NAME).kubeconfig
PYTEST_ARGS ?=
DASHBOARD_LOCAL_PORT ?= 8080
ALERTMANAGER_LOCAL_PORT ?= 9093
# What `make alerts` asks amtool (the default lists the alerts Alertmanager holds).
AMTOOL_ARGS ?= alert query

.PHONY: image-checks monitoring-drill usage-report dashboard alerts role-docs gpu-node-check backup backup-drill backup-fetch fault-test upgrade-test restore cold-check gpu-check help venv pipelines-venv pipelines smoke bench report tools render test molecule lint constraints clean node-components kubernetes node-image cluster cluster-delete cluster-check cluster-test up down platform-test

help: ## List the targets.
	@grep -hE '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.stamp: requirements.txt requirements-dev.txt constraints.txt
	@echo "[venv] installing pinned Python dependencies into $(VENV)"
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt -c constraints.txt
	@# `infra` importable by every process of the venv, also the one serving Python dynamic resources.
	@echo "$(CURDIR)" > "$$($(VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/mlops-platform.pth"
	@touch $@

venv: $(VENV)/.stamp ## Create/refresh the virtualenv (pinned requirements).

# The packages (torch and its CUDA wheels make them about 6 GB) go once per version of the locks
# into a venv in the cache that every clone shares; .venv-pipelines is this clone's own small venv,
# whose .pth file puts that venv's site-packages, pipeline_components/ and the repository on sys.path.
$(PIPELINES_PACKAGES)/.stamp:
	@echo "[pipelines-venv] installing the pipeline images' packages ($(PIPELINES_LOCK), $(PIPELINES_TORCH_LOCK)) into $(PIPELINES_PACKAGES), shared by every clone"
	@rm -rf $(PIPELINES_PACKAGES) && $(PYTHON) -m venv $(PIPELINES_PACKAGES)
	@$(PIPELINES_PACKAGES)/bin/pip install --quiet --disable-pip-version-check --no-deps -r $(PIPELINES_LOCK) -r $(PIPELINES_TORCH_LOCK)
	@$(PIPELINES_PACKAGES)/bin/pip install --quiet --disable-pip-version-check "pytest==$$(sed -n 's/^pytest==//p' requirements-dev.txt)" -c constraints.txt
	@$(PIPELINES_PACKAGES)/bin/pip check >/dev/null
	@touch $@

# Remade when the Makefile changes (the folders the .pth names are written here): a few seconds.
$(PIPELINES_VENV)/.stamp: $(PIPELINES_PACKAGES)/.stamp Makefile
	@echo "[pipelines-venv] $(PIPELINES_VENV): this clone's pipeline_components/ and the repository (pipelines/, smoke_tests/) over $(PIPELINES_PACKAGES)"
	@rm -rf $(PIPELINES_VENV) && $(PYTHON) -m venv --without-pip $(PIPELINES_VENV)
	@# The shared packages, then mlops_components (pipeline_components/) and the repository (smoke_tests), as in the image.
	@printf '%s\n' "$$($(PIPELINES_PACKAGES)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
	  "$(CURDIR)/pipeline_components" "$(CURDIR)" > "$$($(PIPELINES_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/mlops-platform.pth"
	@$(PIPELINES_VENV)/bin/python -m pip check >/dev/null
	@touch $@

pipelines-venv: $(PIPELINES_VENV)/.stamp ## Create/refresh the pipelines virtualenv (the pipeline image's packages).

pipelines: pipelines-venv ## Compile pipelines/{train_pipeline,train_pipeline_torch,bench_pipeline,drift_pipeline}.py to their checked-in YAML.
	@PATH="$(CURDIR)/$(PIPELINES_VENV)/bin:$$PATH" $(PIPELINES_VENV)/bin/python -m pipelines.train_pipeline
	@PATH="$(CURDIR)/$(PIPELINES_VENV)/bin:$$PATH" $(PIPELINES_VENV)/bin/python -m pipelines.train_pipeline_torch
	@PATH="$(CURDIR)/$(PIPELINES_VENV)/bin:$$PATH" $(PIPELINES_VENV)/bin/python -m pipelines.bench_pipeline
	@PATH="$(CURDIR)/$(PIPELINES_VENV)/bin:$$PATH" $(PIPELINES_VENV)/bin/python -m pipelines.drift_pipeline

tools: ## Build or reuse the pinned offline toolchain (pulumi, language host, k8s provider, kind, helm).
	@bash offline/build-tools.sh

render: venv tools ## Run a real `pulumi up` for the local and university stacks, writing manifests to build/render/.
	@bash dev_cluster/render.sh $(RENDER_DIR) local university

test: venv pipelines-venv tools node-components ## Run every test, in two lanes side by side: render, unit, lint, components and the local pipeline; the cluster, platform and smoke tests on a throwaway kind cluster.
	@MLOPS_RENDER_DIR=$(RENDER_DIR) bash dev_cluster/test.sh $(PYTEST_ARGS)

node-components: ## Build (or reuse) containerd, runc, crictl, CNI plugins, etcd, CoreDNS, local-path, pause.
	@bash offline/images/build-node-components.sh >/dev/null

kubernetes: ## Build (or reuse) the pinned Kubernetes binaries from Go modules.
	@bash offline/build-kubernetes.sh

node-image: tools ## Build (or reuse) the offline kind node image.
	@bash offline/images/kind-node.sh

cluster: tools ## Create the local kind cluster (MLOPS_WORKERS=1 adds a worker, MLOPS_FAKE_GPUS=N fake GPUs).
	@bash dev_cluster/cluster.sh create

cluster-delete: tools ## Delete the local kind cluster.
	@bash dev_cluster/cluster.sh delete

cluster-check: venv tools node-components ## Create a throwaway 2-node cluster, run the cluster tests, delete it.
	@bash dev_cluster/cluster-check.sh $(PYTEST_ARGS)

cluster-test: venv ## Run the cluster tests against the running local cluster.
	@$(VENV)/bin/pytest -m e2e tests/cluster $(PYTEST_ARGS)

usage-report: venv ## CPU-, memory- and GPU-hours per research group and day from the platform's Prometheus: a table, build/usage/usage.csv and usage.svg (USAGE_ARGS="--days 30").
	@$(VENV)/bin/python -m platform_usage.report $(USAGE_ARGS)

dashboard: ## Open the platform's dashboard (charts of the research groups' CPU, memory, GPUs and model servers, the platform's services, alerts) at http://localhost:8080/ (DASHBOARD_LOCAL_PORT=...) through kubectl port-forward; Ctrl-C closes it.
	@ns=$$(bash dev_cluster/find-service.sh dashboard); \
	  if [ -z "$$ns" ]; then echo "no dashboard Service in the cluster of $$KUBECONFIG: deploy the platform with monitoring.enabled (make up)" >&2; exit 1; fi; \
	  echo "dashboard: http://localhost:$(DASHBOARD_LOCAL_PORT)/ (from $$ns/dashboard; Ctrl-C closes it)"; \
	  kubectl -n "$$ns" port-forward svc/dashboard $(DASHBOARD_LOCAL_PORT):8080 >/dev/null

alerts: ## The alerts Alertmanager holds, with amtool (built from the pinned module) through kubectl port-forward; AMTOOL_ARGS='silence add alertname=NAME --duration=2h --comment=WHY' (or 'silence query', ...) runs another amtool command.
	@amtool=$$(bash offline/alertmanager.sh)/amtool || exit 1; \
	  ns=$$(bash dev_cluster/find-service.sh alertmanager); \
	  if [ -z "$$ns" ]; then echo "no alertmanager Service in the cluster of $$KUBECONFIG: deploy the platform with monitoring.enabled (make up)" >&2; exit 1; fi; \
	  kubectl -n "$$ns" port-forward svc/alertmanager $(ALERTMANAGER_LOCAL_PORT):9093 >/dev/null & forward=$$!; \
	  trap 'kill $$forward 2>/dev/null' EXIT; \
	  for _ in $$(seq 50); do "$$amtool" --alertmanager.url=http://localhost:$(ALERTMANAGER_LOCAL_PORT) config show >/dev/null 2>&1 && break; sleep 0.2; done; \
	  echo "alertmanager: $$ns/alertmanager (amtool --alertmanager.url=http://localhost:$(ALERTMANAGER_LOCAL_PORT) $(AMTOOL_ARGS))" >&2; \
	  "$$amtool" --alertmanager.url=http://localhost:$(ALERTMANAGER_LOCAL_PORT) $(AMTOOL_ARGS)

monitoring-drill: venv ## Scale a stand-in model server to 0 and wait until Prometheus fires ModelServerDown (5 minutes; make test waits for its pending state only).
	@MLOPS_ALERT_STATE=firing $(VENV)/bin/pytest -m e2e tests/platform/test_monitoring.py -k model_server_scaled_to_zero $(PYTEST_ARGS)

image-checks: venv ## Check the database and ML Metadata images for real with docker (offline/images/*/check.sh; after make up built them).
	@$(VENV)/bin/pytest -m e2e tests/images $(PYTEST_ARGS)

molecule: venv ## Run the Ansible Molecule scenarios (Debian 12 systemd containers; Docker).
	@$(VENV)/bin/pytest -m molecule tests/ansible $(PYTEST_ARGS)

gpu-node-check: venv ## Pack build/gpu-node-check.tar.gz (device plugin, nvidia-ctk, stand-in kubelet, PyTorch step; <= 60 MB) and run its check here: passes on a GPU machine, refuses elsewhere.
	@bash offline/gpu-node-check.sh >/dev/null
	@python3 build/gpu-node-check/check.py

gpu-check: venv ## On a machine with an NVIDIA GPU: the PCI GPUs vs what nvidia-smi reports (validate.yml --tags gpu).
	@bash ansible/gpu-check.sh

up: venv ## The local cluster with the platform deployed by `pulumi up --stack local`: every build as timed stages.
	@$(PYTHON) dev_cluster/up.py

down: venv tools ## Destroy what `make up` deployed (`pulumi destroy --stack local`); the cluster stays.
	@bash dev_cluster/up.sh down

BACKUP_DIR ?= $(CURDIR)/backups
backup: venv ## Take a backup of what `make up` deployed now (databases, every bucket) and copy it into BACKUP_DIR (backups/).
	@$(VENV)/bin/python -m platform_backup.cli backup --output $(BACKUP_DIR)

ID ?=
backup-fetch: venv ## Copy backup ID=<id> from the cluster's backups volume (a scheduled or pre-upgrade one) into BACKUP_DIR (backups/).
	@$(VENV)/bin/python -m platform_backup.cli fetch $(ID) --output $(BACKUP_DIR)

backup-drill: venv ## The disaster drill on what `make up` deployed (~30 min): smoke run, backup, platform and cluster deleted, make up, restore, all compared.
	@$(VENV)/bin/python -m smoke_tests.backup_drill

upgrade-test: venv tools ## The previous release tag deployed, used, then upgraded in place to this checkout (~25 min): pre-upgrade backup taken, nothing lost.
	@$(VENV)/bin/python -m smoke_tests.upgrade_test

fault-test: venv ## A smoke run while the MLflow, object-store and KFP-database pods are deleted: it must succeed and lose nothing.
	@$(VENV)/bin/pytest -m e2e smoke_tests/test_faults.py $(PYTEST_ARGS)

BACKUP ?=
restore: venv ## Restore BACKUP=<folder from make backup> onto the deployed platform (refuses a bad backup before changing anything).
	@$(VENV)/bin/python -m platform_backup.cli restore $(BACKUP)

platform-test: venv ## Run the platform tests against what `make up` deployed.
	@bash offline/browser.sh
	@$(VENV)/bin/pytest -m e2e tests/platform $(PYTEST_ARGS)

smoke: venv ## Run the training pipeline end to end on what `make up` deployed (train, register, serve).
	@$(VENV)/bin/pytest -m e2e smoke_tests/test_smoke.py $(PYTEST_ARGS)

REPORT_DATA := docs/report/data
BENCH_RUNS ?= 10
bench: venv ## BENCH_RUNS (10) pipeline runs at once by two groups on what `make up` deployed: makespan, queue wait, GPU share, per-step overhead; regenerates docs/report.md.
	@$(VENV)/bin/python -m smoke_tests.bench --runs $(BENCH_RUNS) --output $(REPORT_DATA)/bench.json
	@$(VENV)/bin/python docs/report/generate.py

report: venv ## Measure on what `make up` deployed (about 45 min) and regenerate docs/report.md with its plots.
	@$(VENV)/bin/python -m smoke_tests.measure_resources $(REPORT_DATA)/resources.json
	@MLOPS_MEASUREMENTS_DIR=$(CURDIR)/$(REPORT_DATA) $(VENV)/bin/pytest -m e2e smoke_tests/test_smoke.py $(PYTEST_ARGS)
	@$(VENV)/bin/python -m smoke_tests.measure_overhead 3 $(REPORT_DATA)/overhead.json
	@$(VENV)/bin/python -m smoke_tests.bench --runs $(BENCH_RUNS) --output $(REPORT_DATA)/bench.json
	@$(VENV)/bin/python -m smoke_tests.measure_network_policy 8 $(REPORT_DATA)/network_policy.json
	@$(VENV)/bin/python docs/report/generate.py

cold-check: ## A fresh machine on this one: fresh clone, empty caches, own Docker daemon; make up + make smoke, timed.
	@bash dev_cluster/cold-check.sh

role-docs: venv ## Rewrite each Ansible role README's variables table from its meta/argument_specs.yml.
	@$(VENV)/bin/python ansible/role_docs.py

lint: venv ## Lint the Python code.
	@$(VENV)/bin/ruff check .

constraints: ## Re-pin every transitive Python dependency after changing a requirement.
	@rm -rf build/constraints-venv && $(PYTHON) -m venv build/constraints-venv
	@build/constraints-venv/bin/pip install --quiet -r requirements.txt -r requirements-dev.txt
	@(echo "# Every transitive Python dependency, pinned (regenerate: make constraints)."; \
	  build/constraints-venv/bin/pip freeze) > constraints.txt

clean: ## Remove build outputs (keeps the toolchain cache in $(CACHE_DIR)).
	rm -rf build
