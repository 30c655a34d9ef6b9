"""Login: people sign in to the Kubeflow Pipelines UI with the university's accounts.

Two programs in their own namespace, both built offline from their Go modules:
- Dex, the OpenID Connect provider, at the issuer address people's browsers open. It checks
  passwords against its password database (the stack's `staticUsers`, each with a password
  generated once: the Secret `people-passwords` holds them for the admin to hand out, Dex only
  their bcrypt hashes) and/or the university's LDAP directory (its LDAP connector). Its state
  (signing keys, sessions) is kept in memory: a restart signs everyone out, nothing else.
- oauth2-proxy in front of the UI: a request without its session cookie is sent to Dex's sign-in
  page; a signed-in person's requests go on to the UI with `X-Forwarded-Email: <their address>`,
  replacing whatever the request carried under that name. Kubeflow Pipelines' "people" API server
  (KubeflowPipelinesArgs.people_login_namespace) takes the person's identity from that header and
  authorizes it with RBAC like a token's: a tenant's `members` list people by e-mail address.

oauth2-proxy talks to Dex inside the cluster (token and keys), while the browser is sent to the
issuer address; the ID token's issuer is checked against that address.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pulumi
import pulumi_kubernetes as k8s
import yaml

from infra.components.common import CONTAINER_SECURITY, PART_OF, content_digest, labels, namespace, pod_security
from infra.components.generated_password import GeneratedPassword
from infra.config import IngressTls, LoginConfig

DEX = "dex"
DEX_PORT = 5556
PROXY = "oauth2-proxy"
PROXY_PORT = 4180
# The OAuth 2.0 client that oauth2-proxy is at Dex.
CLIENT_ID = "kubeflow-pipelines-ui"
# Where the people's passwords are kept (key: the part of the address before the @).
PASSWORDS_SECRET = "people-passwords"  # noqa: S105 (a Secret's name)
# The header oauth2-proxy sets to the signed-in person's e-mail address (--pass-user-headers).
IDENTITY_HEADER = "x-forwarded-email"
UID = 65532


@dataclass
class LoginArgs:
    config: LoginConfig
    dex_image: str
    proxy_image: str
    # Where oauth2-proxy sends signed-in people's requests: the UI's Service address.
    ui_upstream: pulumi.Input[str]
    image_pull_policy: str = "IfNotPresent"
    # External CIDRs allowed to reach Dex and oauth2-proxy (an ingress controller's, people's).
    client_cidrs: tuple[str, ...] = ()
    # With an ingress class: an Ingress for each address, its certificate as ingress_tls says.
    ingress_class: str = ""
    ingress_tls: IngressTls | None = None


def selector(workload: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": workload, "app.kubernetes.io/part-of": PART_OF}


def dex_config(config: LoginConfig, client_secret: str, hashes: dict[str, str], bind_password: str) -> str:
    """Dex's configuration file (a Secret: it holds the client secret, hashes and bind password)."""
    document: dict = {
        "issuer": config.issuer_url,
        "storage": {"type": "memory"},
        "web": {"http": f"0.0.0.0:{DEX_PORT}"},
        "logger": {"level": "info", "format": "json"},
        "oauth2": {"skipApprovalScreen": True, "responseTypes": ["code"]},
        "expiry": {"idTokens": "8h", "signingKeys": "24h"},
        "staticClients": [{
            "id": CLIENT_ID, "name": "Kubeflow Pipelines", "secret": client_secret,
            "redirectURIs": [f"{config.ui_url}/oauth2/callback"],
        }],
        "enablePasswordDB": bool(config.static_users),
    }
    if config.static_users:
        document["staticPasswords"] = [{
            "email": email, "hash": hashes[email], "username": LoginConfig.user_key(email),
            "userID": LoginConfig.user_key(email),
        } for email in config.static_users]
    if config.ldap:
        ldap = config.ldap
        user_search = {"baseDN": ldap["userBaseDN"], "filter": ldap.get("userFilter", "(objectClass=person)"),
                       "username": ldap.get("usernameAttr", "uid"), "idAttr": ldap.get("usernameAttr", "uid"),
                       "emailAttr": ldap.get("emailAttr", "mail"), "nameAttr": ldap.get("nameAttr", "cn")}
        connector: dict = {
            "host": ldap["host"], "usernamePrompt": "University account", "userSearch": user_search,
            "insecureNoSSL": ldap.get("insecureNoSSL", "false") == "true",
        }
        if ldap.get("bindDN"):  # else Dex searches anonymously
            connector |= {"bindDN": ldap["bindDN"], "bindPW": bind_password}
        if ldap.get("rootCA"):
            connector["rootCA"] = ldap["rootCA"]
        if ldap.get("groupBaseDN"):
            connector["groupSearch"] = {
                "baseDN": ldap["groupBaseDN"], "filter": ldap.get("groupFilter", "(objectClass=groupOfNames)"),
                "userMatchers": [{"userAttr": ldap.get("groupUserAttr", "DN"),
                                  "groupAttr": ldap.get("groupMemberAttr", "member")}],
                "nameAttr": ldap.get("groupNameAttr", "cn"),
            }
        document["connectors"] = [{"type": "ldap", "id": "ldap", "name": "University directory", "config": connector}]
    return yaml.safe_dump(document, sort_keys=False)


def proxy_args(config: LoginConfig, namespace_name: str, upstream: str) -> list[str]:
    """oauth2-proxy's flags: Dex's endpoints inside the cluster, the browser sent to the issuer."""
    issuer = urlsplit(config.issuer_url)
    internal = f"http://{DEX}.{namespace_name}.svc.cluster.local:{DEX_PORT}{issuer.path}"
    return [
        f"--http-address=0.0.0.0:{PROXY_PORT}",
        "--provider=oidc",
        "--provider-display-name=University account",
        f"--client-id={CLIENT_ID}",
        f"--oidc-issuer-url={config.issuer_url}",
        "--skip-oidc-discovery=true",
        f"--login-url={config.issuer_url}/auth",
        f"--redeem-url={internal}/token",
        f"--oidc-jwks-url={internal}/keys",
        f"--redirect-url={config.ui_url}/oauth2/callback",
        f"--upstream={upstream}",
        "--email-domain=*",
        "--scope=openid email profile",
        "--skip-provider-button=true",
        # oauth2-proxy's default (force) would make Dex ask for consent at every sign-in.
        "--approval-prompt=auto",
        # X-Forwarded-User/-Email/-Preferred-Username from the ID token; a request's own values
        # under those names are removed first. No Basic credentials to the UI (oauth2-proxy's
        # default would add an Authorization: Basic header with the user's name).
        "--pass-user-headers=true",
        "--pass-basic-auth=false",
        "--pass-access-token=false",
        "--cookie-name=_mlops_login",
        f"--cookie-secure={str(urlsplit(config.ui_url).scheme == 'https').lower()}",
        "--cookie-expire=8h",
        "--silence-ping-logging=true",
    ]


class Login(pulumi.ComponentResource):
    """Dex and oauth2-proxy in `config.namespace` (restricted), their Services and
    NetworkPolicies (ingress denied, except Dex from oauth2-proxy and the client CIDRs, and
    oauth2-proxy from the client CIDRs), the generated passwords and secrets."""

    namespace: pulumi.Output[str]
    proxy_selector: dict[str, str]

    def __init__(self, name: str, args: LoginArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("mlops-platform:platform:Login", name, None, opts)
        config = args.config
        self._name, self._args = name, args
        child = pulumi.ResourceOptions(parent=self)
        ns = namespace(f"{name}-ns", config.namespace, "login", self)
        self.namespace = ns.metadata.apply(lambda m: m["name"])
        self.proxy_selector = selector(PROXY)

        passwords = {email: GeneratedPassword(f"{name}-password-{LoginConfig.user_key(email)}", 16, opts=child,
                                              bcrypt_hash=True)
                     for email in config.static_users}
        client_secret = GeneratedPassword(f"{name}-client-secret", 24, opts=child)
        # 16 random bytes as 32 hex characters: a 32-byte cookie key (AES-256).
        cookie_secret = GeneratedPassword(f"{name}-cookie-secret", 16, opts=child)

        def meta(object_name: str, workload: str) -> dict:
            return {"name": object_name, "namespace": self.namespace, "labels": labels(workload, "login")}

        if passwords:
            k8s.core.v1.Secret(f"{name}-people-passwords", metadata=meta(PASSWORDS_SECRET, DEX), string_data={
                LoginConfig.user_key(email): password.value for email, password in passwords.items()}, opts=child)
        emails = list(passwords)
        config_text = pulumi.Output.all(
            client_secret.value, pulumi.Output.from_input(config.ldap_bind_password),
            *(passwords[email].hash for email in emails),
        ).apply(lambda v: dex_config(config, v[0], dict(zip(emails, v[2:], strict=True)), v[1]))
        dex_secret = k8s.core.v1.Secret(f"{name}-dex-config", metadata=meta("dex-config", DEX),
                                        string_data={"config.yaml": pulumi.Output.secret(config_text)}, opts=child)
        proxy_secret = k8s.core.v1.Secret(f"{name}-proxy-secrets", metadata=meta("oauth2-proxy-secrets", PROXY),
                                          string_data={"client-secret": client_secret.value,
                                                       "cookie-secret": cookie_secret.value}, opts=child)

        issuer_path = urlsplit(config.issuer_url).path
        dex_probe = {"httpGet": {"path": f"{issuer_path}/.well-known/openid-configuration", "port": DEX_PORT},
                     "periodSeconds": 10, "timeoutSeconds": 2}
        dex = self._workload(DEX, {
            "name": DEX, "image": args.dex_image,
            "args": ["serve", "/etc/dex/config.yaml"],
            "ports": [{"name": "http", "containerPort": DEX_PORT}],
            "readinessProbe": dex_probe, "livenessProbe": {**dex_probe, "initialDelaySeconds": 10},
            "volumeMounts": [{"name": "config", "mountPath": "/etc/dex", "readOnly": True}],
        }, [{"name": "config", "secret": {"secretName": dex_secret.metadata.apply(lambda m: m["name"])}}],
            # A new configuration (a user added, a secret replaced) restarts Dex.
            {"mlops-platform/config": config_text.apply(content_digest)})
        self._service(DEX, DEX_PORT)

        proxy_probe = {"httpGet": {"path": "/ping", "port": PROXY_PORT}, "periodSeconds": 10, "timeoutSeconds": 2}
        proxy_secret_name = proxy_secret.metadata.apply(lambda m: m["name"])
        proxy = self._workload(PROXY, {
            "name": PROXY, "image": args.proxy_image,
            "args": pulumi.Output.all(self.namespace, args.ui_upstream).apply(
                lambda v: proxy_args(config, v[0], v[1])),
            "env": [{"name": env, "valueFrom": {"secretKeyRef": {"name": proxy_secret_name, "key": key}}}
                    for env, key in (("OAUTH2_PROXY_CLIENT_SECRET", "client-secret"),
                                     ("OAUTH2_PROXY_COOKIE_SECRET", "cookie-secret"))],
            "ports": [{"name": "http", "containerPort": PROXY_PORT}],
            "readinessProbe": proxy_probe, "livenessProbe": {**proxy_probe, "initialDelaySeconds": 5},
        }, [], {}, depends_on=[dex])
        self._service(PROXY, PROXY_PORT)
        self._network_policies()
        if args.ingress_class:
            self._ingress(DEX, config.issuer_url, DEX_PORT)
            self._ingress(PROXY, config.ui_url, PROXY_PORT)

        self.issuer_url = config.issuer_url
        self.ui_url = config.ui_url
        self.register_outputs({"namespace": self.namespace, "dex": dex.urn, "proxy": proxy.urn,
                               "issuer_url": config.issuer_url, "ui_url": config.ui_url})

    def _workload(self, workload: str, container: dict, volumes: list[dict], annotations: dict,
                  depends_on: list[pulumi.Resource] | None = None) -> k8s.apps.v1.Deployment:
        args = self._args
        container = {**container, "imagePullPolicy": args.image_pull_policy,
                     "securityContext": {**CONTAINER_SECURITY, "readOnlyRootFilesystem": True},
                     "resources": args.config.resources.to_kubernetes()}
        return k8s.apps.v1.Deployment(
            f"{self._name}-{workload}",
            metadata={"name": workload, "namespace": self.namespace, "labels": labels(workload, "login")},
            spec={
                "replicas": 1,
                "selector": {"matchLabels": selector(workload)},
                "template": {
                    "metadata": {"labels": {**selector(workload), **labels(workload, "login")},
                                 **({"annotations": annotations} if annotations else {})},
                    "spec": {"securityContext": pod_security(UID), "automountServiceAccountToken": False,
                             "containers": [container], **({"volumes": volumes} if volumes else {})},
                },
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )

    def _service(self, workload: str, port: int) -> None:
        k8s.core.v1.Service(
            f"{self._name}-svc-{workload}",
            metadata={"name": workload, "namespace": self.namespace, "labels": labels(workload, "login")},
            spec={"selector": selector(workload),
                  "ports": [{"name": "http", "port": port, "targetPort": port, "protocol": "TCP"}]},
            opts=pulumi.ResourceOptions(parent=self))

    def _network_policies(self) -> None:
        """Ingress denied, except: Dex from oauth2-proxy (token, keys) and the client CIDRs (the
        browser's sign-in page); oauth2-proxy from the client CIDRs. `kubectl port-forward`, the
        local stack's way in, is not filtered by NetworkPolicies."""
        def policy(suffix: str, spec: dict) -> None:
            k8s.networking.v1.NetworkPolicy(
                f"{self._name}-{suffix}",
                metadata={"name": suffix, "namespace": self.namespace, "labels": {"app.kubernetes.io/part-of": PART_OF}},
                spec=spec, opts=pulumi.ResourceOptions(parent=self))

        cidrs = [{"ipBlock": {"cidr": cidr}} for cidr in self._args.client_cidrs]
        policy("default-deny-ingress", {"podSelector": {}, "policyTypes": ["Ingress"]})
        policy("allow-dex", {"podSelector": {"matchLabels": selector(DEX)}, "policyTypes": ["Ingress"], "ingress": [{
            "from": [{"podSelector": {"matchLabels": selector(PROXY)}}, *cidrs],
            "ports": [{"protocol": "TCP", "port": DEX_PORT}]}]})
        if cidrs:
            policy("allow-oauth2-proxy", {"podSelector": {"matchLabels": selector(PROXY)}, "policyTypes": ["Ingress"],
                                          "ingress": [{"from": cidrs, "ports": [{"protocol": "TCP", "port": PROXY_PORT}]}]})

    def _ingress(self, workload: str, url: str, port: int) -> None:
        args = self._args
        host = urlsplit(url).hostname
        tls_secret, annotations = (args.ingress_tls or IngressTls()).for_component(f"login-{workload}")
        k8s.networking.v1.Ingress(
            f"{self._name}-ingress-{workload}",
            metadata={"name": workload, "namespace": self.namespace, "labels": labels(workload, "login"),
                      **({"annotations": annotations} if annotations else {})},
            spec={
                "ingressClassName": args.ingress_class,
                "rules": [{"host": host, "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": {
                    "service": {"name": workload, "port": {"number": port}}}}]}}],
                **({"tls": [{"hosts": [host], "secretName": tls_secret}]} if tls_secret else {}),
            },
            opts=pulumi.ResourceOptions(parent=self))
