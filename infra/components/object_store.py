"""S3-compatible object storage: SeaweedFS (Apache-2.0) or MinIO (last community release)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra.components.common import CONTAINER_SECURITY, S3Access, ingress_policy, labels, namespace, pod_security
from infra.components.generated_password import GeneratedPassword
from infra.components.monitoring import ScrapeTarget
from infra.config import Resources

BACKENDS = ("minio", "seaweedfs")
S3_PORTS = {"minio": 9000, "seaweedfs": 8333}
# SeaweedFS's Prometheus metrics (master, volume server, filer and S3 gateway of the one process).
SEAWEEDFS_METRICS_PORT = 9327
# MinIO's cluster metrics, on its S3 port, for a bearer token signed with an admin's secret key.
MINIO_METRICS_PATH = "/minio/v2/metrics/cluster"
# The token's expiry (2100-01-01T00:00:00Z): fixed, so that the same key gives the same token and a
# second `pulumi up` changes nothing; rotating the root password makes a new one.
MINIO_TOKEN_EXPIRES = 4102444800
_UID = 1000


# BucketUser.bucket of the one user that reads and writes every bucket: the platform's backup.
ALL_BUCKETS = "*"


def minio_metrics_token(access_key: str, secret_key: str) -> str:
    """The bearer token MinIO accepts at its metrics endpoints: a JWT (RFC 7519) signed with HMAC-SHA512
    by the user's secret key, naming the user as its subject and `prometheus` as its issuer."""
    def part(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = part(json.dumps({"alg": "HS512", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = part(json.dumps({"exp": MINIO_TOKEN_EXPIRES, "iss": "prometheus", "sub": access_key},
                             separators=(",", ":")).encode())
    signature = hmac.new(secret_key.encode(), f"{header}.{claims}".encode(), hashlib.sha512).digest()
    return f"{header}.{claims}.{part(signature)}"


@dataclass(frozen=True)
class BucketUser:
    """An S3 user allowed to read, write and list one bucket only (a tenant's), or every bucket
    (ALL_BUCKETS: the backup) without the admin's rights (no bucket creation or deletion, no users)."""

    name: str
    bucket: str


@dataclass
class ObjectStoreArgs:
    backend: str
    namespace: str
    image: str
    volume_size: str
    root_user: str
    buckets: tuple[str, ...]
    resources: Resources
    image_pull_policy: str = "IfNotPresent"
    storage_class: str = ""
    # Namespaces (besides its own) and external CIDRs allowed to reach the S3 port.
    client_namespaces: list[str] = field(default_factory=list)
    client_cidrs: tuple[str, ...] = ()
    # Pulumi refuses to delete its namespace, and so its volumes (platform.protectData).
    protect_data: bool = False
    # Users scoped to one bucket each; their secret keys are generated (see user_secret_keys).
    bucket_users: tuple[BucketUser, ...] = ()
    # Serve Prometheus metrics for the Monitoring component (SeaweedFS: its metrics port; MinIO: its S3 port, with a token).
    metrics: bool = False


class ObjectStore(pulumi.ComponentResource):
    """One object-store server (StatefulSet with a volume), its generated root credentials,
    the platform's buckets (created by a Job that the update waits for), users limited to one
    bucket each (SeaweedFS identities, or MinIO users and policies made by the same Job) and a
    NetworkPolicy."""

    endpoint: pulumi.Output[str]
    namespace: pulumi.Output[str]
    credentials_secret_name: pulumi.Output[str]
    access_key: pulumi.Output[str]
    secret_key: pulumi.Output[str]
    port: int
    # The store's metrics for the Monitoring component (job `object-store`), when asked for.
    metrics_targets: tuple[ScrapeTarget, ...]
    # Secret key of each bucket user (its access key is its name).
    user_secret_keys: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: ObjectStoreArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops-platform:platform:ObjectStore", name, None, opts)
        if args.backend not in BACKENDS:
            raise ValueError(f"ObjectStore {name}: backend={args.backend!r}; allowed values: {', '.join(BACKENDS)}")
        if not args.buckets:
            raise ValueError(f"ObjectStore {name}: buckets must list at least one bucket")
        for user in args.bucket_users:
            if user.bucket != ALL_BUCKETS and user.bucket not in args.buckets:
                raise ValueError(f"ObjectStore {name}: bucket user {user.name!r} needs bucket {user.bucket!r}, "
                                 f"which is not in buckets ({', '.join(args.buckets)})")
        child = pulumi.ResourceOptions(parent=self)
        port = S3_PORTS[args.backend]
        app_labels = labels(name, "object-store")
        selector = {"app.kubernetes.io/name": name, "app.kubernetes.io/component": "object-store"}

        ns = namespace(f"{name}-ns", args.namespace, "object-store", self, protect=args.protect_data)
        ns_name = ns.metadata.apply(lambda m: m["name"])
        password = GeneratedPassword(f"{name}-root-password", opts=child)
        user_keys = {user.name: GeneratedPassword(f"{name}-user-{user.name}", opts=child).value
                     for user in args.bucket_users}

        secret_data: dict[str, pulumi.Input[str]] = {
            "AWS_ACCESS_KEY_ID": args.root_user,
            "AWS_SECRET_ACCESS_KEY": password.value,
        }
        if args.backend == "seaweedfs":
            secret_data["s3.json"] = pulumi.Output.all(password.value, user_keys).apply(
                lambda keys: self._seaweedfs_identities(args, keys[0], keys[1]))
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            metadata={"name": f"{name}-credentials", "namespace": ns_name, "labels": app_labels},
            string_data=secret_data,
            opts=child,
        )
        credentials_name = credentials.metadata.apply(lambda m: m["name"])

        service = k8s.core.v1.Service(
            f"{name}-svc",
            metadata={"name": name, "namespace": ns_name, "labels": app_labels},
            spec={"selector": selector, "ports": self._service_ports(args.backend)},
            opts=child,
        )

        volume_claim = {
            "metadata": {"name": "data", "labels": app_labels},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": args.volume_size}},
                **({"storageClassName": args.storage_class} if args.storage_class else {}),
            },
        }
        server = {
            "name": args.backend,
            "image": args.image,
            "imagePullPolicy": args.image_pull_policy,
            "securityContext": CONTAINER_SECURITY,
            "resources": args.resources.to_kubernetes(),
            "ports": [{"name": "s3", "containerPort": port}],
            "readinessProbe": {"tcpSocket": {"port": port}, "periodSeconds": 5},
            "livenessProbe": {"tcpSocket": {"port": port}, "initialDelaySeconds": 30, "periodSeconds": 20},
            "volumeMounts": [{"name": "data", "mountPath": "/data"}],
            **self._server_command(args.backend, credentials_name, args.volume_size),
        }
        metrics = args.metrics and args.backend == "seaweedfs"
        if metrics:
            server["args"].append(f"-metricsPort={SEAWEEDFS_METRICS_PORT}")
            server["ports"].append({"name": "metrics", "containerPort": SEAWEEDFS_METRICS_PORT})
        if args.backend == "seaweedfs":
            server["volumeMounts"].append({"name": "s3-config", "mountPath": "/etc/seaweedfs", "readOnly": True})
        statefulset = k8s.apps.v1.StatefulSet(
            f"{name}-server",
            metadata={"name": name, "namespace": ns_name, "labels": app_labels},
            spec={
                "serviceName": name,
                "replicas": 1,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": app_labels},
                    "spec": {
                        "securityContext": pod_security(_UID),
                        "containers": [server],
                        "volumes": [{"name": "s3-config", "secret": {
                            "secretName": credentials_name, "items": [{"key": "s3.json", "path": "s3.json"}]}}]
                        if args.backend == "seaweedfs" else [],
                    },
                },
                "volumeClaimTemplates": [volume_claim],
            },
            opts=child,
        )

        users_secret = None
        if args.backend == "minio" and args.bucket_users:
            # MinIO keeps users in its own store: the bucket Job creates them with `mc admin`
            # from this Secret (one key per user, mounted as files).
            users_secret = k8s.core.v1.Secret(
                f"{name}-users",
                metadata={"name": f"{name}-users", "namespace": ns_name, "labels": app_labels},
                string_data=user_keys,
                opts=child,
            ).metadata.apply(lambda m: m["name"])
        host = pulumi.Output.concat(name, ".", ns_name, ".svc.cluster.local")
        self._bucket_job(name, args, ns_name, credentials_name, users_secret, host, app_labels,
                         pulumi.ResourceOptions(parent=self, depends_on=[statefulset, service]))
        policy = ingress_policy(f"{name}-ingress", ns_name, selector, port, args.client_namespaces, args.client_cidrs, self)
        # The bucket Job and the server talk on the backend's internal ports within the namespace.
        policy_same_ns = k8s.networking.v1.NetworkPolicy(
            f"{name}-same-namespace",
            metadata={"name": f"{name}-same-namespace", "namespace": ns_name, "labels": app_labels},
            spec={"podSelector": {"matchLabels": selector}, "policyTypes": ["Ingress"],
                  "ingress": [{"from": [{"podSelector": {}}]}]},
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )

        self.endpoint = pulumi.Output.concat("http://", host, f":{port}")
        self.namespace = ns_name
        self.credentials_secret_name = credentials_name
        self.access_key = pulumi.Output.from_input(args.root_user)
        self.secret_key = password.value
        self.port = port
        self.user_secret_keys = user_keys
        self.metrics_targets = ()
        if metrics:
            self.metrics_targets = (ScrapeTarget("object-store", (args.namespace,), selector, SEAWEEDFS_METRICS_PORT),)
        elif args.metrics and args.backend == "minio":
            # MinIO's metrics ask for the token `mc admin prometheus generate` makes, here from the root credentials.
            token = pulumi.Output.secret(password.value.apply(lambda key: minio_metrics_token(args.root_user, key)))
            self.metrics_targets = (ScrapeTarget("object-store", (args.namespace,), selector, port,
                                                 path=MINIO_METRICS_PATH, bearer_token=token),)
        self.register_outputs({
            "endpoint": self.endpoint, "namespace": self.namespace,
            "credentials_secret_name": self.credentials_secret_name, "policy": policy_same_ns.id,
        })

    def access(self, user: str) -> S3Access:
        """How bucket user `user` (one of ObjectStoreArgs' bucket_users) reaches the store."""
        return S3Access(self.endpoint, user, self.user_secret_keys[user])

    @staticmethod
    def _seaweedfs_identities(args: ObjectStoreArgs, root_key: str, user_keys: dict[str, str]) -> str:
        identities = [{
            "name": args.root_user,
            "credentials": [{"accessKey": args.root_user, "secretKey": root_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]
        identities += [{
            "name": user.name,
            "credentials": [{"accessKey": user.name, "secretKey": user_keys[user.name]}],
            "actions": ["Read", "Write", "List"] if user.bucket == ALL_BUCKETS else
                       [f"Read:{user.bucket}", f"Write:{user.bucket}", f"List:{user.bucket}"],
        } for user in args.bucket_users]
        return json.dumps({"identities": identities})

    @staticmethod
    def _service_ports(backend: str) -> list[dict]:
        if backend == "minio":
            return [{"name": "s3", "port": 9000, "targetPort": 9000}]
        return [{"name": "s3", "port": 8333, "targetPort": 8333},
                {"name": "master", "port": 9333, "targetPort": 9333},
                {"name": "master-grpc", "port": 19333, "targetPort": 19333},
                {"name": "filer", "port": 8888, "targetPort": 8888},
                {"name": "filer-grpc", "port": 18888, "targetPort": 18888}]

    @staticmethod
    def _server_command(backend: str, credentials: pulumi.Output[str], volume_size: str) -> dict:
        if backend == "minio":
            env = [{"name": env_name, "valueFrom": {"secretKeyRef": {"name": credentials, "key": key}}}
                   for env_name, key in (("MINIO_ROOT_USER", "AWS_ACCESS_KEY_ID"),
                                         ("MINIO_ROOT_PASSWORD", "AWS_SECRET_ACCESS_KEY"))]
            # The console (root login, every bucket) listens inside the pod only: reachable by
            # `kubectl port-forward` (RBAC on pods/portforward), not by any other pod.
            return {"args": ["server", "/data", "--address", ":9000", "--console-address", "127.0.0.1:9001"], "env": env}
        # One process runs master, volume server, filer and the S3 gateway: lean for a lab.
        # The master advertises -ip to clients (the bucket Job's `weed shell`), so it must be the
        # pod's address: with 127.0.0.1 clients outside the pod are sent to themselves.
        max_volumes, volume_limit_mb = seaweedfs_volume_layout(volume_size)
        return {"args": ["server", "-dir=/data", "-ip=$(POD_IP)", "-ip.bind=0.0.0.0", f"-volume.max={max_volumes}",
                         f"-master.volumeSizeLimitMB={volume_limit_mb}", "-filer", "-s3", "-s3.port=8333",
                         "-s3.config=/etc/seaweedfs/s3.json"],
                "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
                        # Each bucket (a SeaweedFS collection) starts with one volume, not seven.
                        {"name": "WEED_MASTER_VOLUME_GROWTH_COPY_1", "value": "1"}]}

    @staticmethod
    def _bucket_job(name, args: ObjectStoreArgs, ns_name, credentials, users_secret, host, app_labels,
                    opts) -> k8s.batch.v1.Job:
        buckets = " ".join(args.buckets)
        # "@HOST@" is replaced by the service's DNS name once it is known.
        if args.backend == "minio":
            script = (
                'until mc alias set store "http://@HOST@:9000" "$AWS_ACCESS_KEY_ID" "$AWS_SECRET_ACCESS_KEY"; '
                'do echo "waiting for the object store"; sleep 3; done\n'
                f'for b in {buckets}; do mc mb --ignore-existing "store/$b"; done\n'
            )
            for user in args.bucket_users:
                script += _minio_user_script(user)
        else:
            script = (
                # A connect can fail while the master elects itself: retry each command.
                'shell() { for i in 1 2 3 4 5; do echo "$1" | weed shell -master=@HOST@:9333 -filer=@HOST@:8888 && return 0; '
                'sleep 3; done; return 1; }\n'
                'until shell s3.bucket.list > /tmp/buckets; do echo "waiting for the object store"; sleep 3; done\n'
                f'for b in {buckets}; do grep -qw "$b" /tmp/buckets || shell "s3.bucket.create -name $b"; done\n'
                'shell s3.bucket.list\n'
            )
        env = [{"name": key, "valueFrom": {"secretKeyRef": {"name": credentials, "key": key}}}
               for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")]
        env.append({"name": "HOME", "value": "/tmp"})
        return k8s.batch.v1.Job(
            f"{name}-buckets",
            metadata={"namespace": ns_name, "labels": {**app_labels, "app.kubernetes.io/component": "bucket-setup"}},
            spec={
                "backoffLimit": 4,
                "activeDeadlineSeconds": 600,
                "template": {
                    "metadata": {"labels": {**app_labels, "app.kubernetes.io/component": "bucket-setup"}},
                    "spec": {
                        "restartPolicy": "OnFailure",
                        "securityContext": pod_security(_UID),
                        "containers": [{
                            "name": "create-buckets",
                            "image": args.image,
                            "imagePullPolicy": args.image_pull_policy,
                            "securityContext": CONTAINER_SECURITY,
                            "command": ["/bin/sh", "-ec"],
                            "args": [host.apply(lambda h: script.replace("@HOST@", h))],
                            "env": env,
                            "resources": {"requests": {"cpu": "10m", "memory": "32Mi"},
                                          "limits": {"cpu": "200m", "memory": "128Mi"}},
                            "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}] + (
                                [{"name": "users", "mountPath": "/users", "readOnly": True}] if users_secret else []),
                        }],
                        "volumes": [{"name": "tmp", "emptyDir": {}}] + (
                            [{"name": "users", "secret": {"secretName": users_secret}}] if users_secret else []),
                    },
                },
            },
            opts=opts,
        )


# SeaweedFS stores objects in volumes of at most volumeSizeLimitMB each; every bucket needs its own.
SEAWEEDFS_VOLUMES = 32
_MIB = {"Mi": 1, "Gi": 1024, "Ti": 1024 * 1024}


def seaweedfs_volume_layout(volume_size: str) -> tuple[int, int]:
    """(-volume.max, -master.volumeSizeLimitMB) that divide the claim into SEAWEEDFS_VOLUMES
    volumes (at least 64 MiB each). `-volume.max=0` would size the count from the node's free disk,
    not from the claim: with little free disk, a bucket written late got "no free volumes left"
    (seen on the kind cluster: PutObject InternalError)."""
    size_mib = int(volume_size[:-2]) * _MIB[volume_size[-2:]]
    limit = max(64, size_mib // SEAWEEDFS_VOLUMES)
    return max(1, size_mib // limit), limit


def _minio_user_script(user: BucketUser) -> str:
    """Shell lines that make `user` a MinIO user whose policy allows only its bucket (or every one)."""
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
         "Resource": [f"arn:aws:s3:::{user.bucket}"]},  # "*" (ALL_BUCKETS): every bucket
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject",
                                       "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
         "Resource": [f"arn:aws:s3:::{user.bucket}/*"]},
    ]})
    # `policy attach` fails when the policy is attached already (a re-run): accept that case.
    return (
        f"printf '%s' '{policy}' > /tmp/{user.name}.json\n"
        f"mc admin policy create store {user.name} /tmp/{user.name}.json\n"
        f'mc admin user add store {user.name} "$(cat /users/{user.name})"\n'
        f"mc admin policy attach store {user.name} --user {user.name} || "
        f"mc admin user info store {user.name} | grep -qw {user.name}\n"
    )
