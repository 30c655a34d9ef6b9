"""The Login component (infra/components/login.py: Dex and oauth2-proxy) under Pulumi mocks: the
sign-in, the API server that trusts the proxy's header, LDAP and the Ingresses."""

from __future__ import annotations

import json

import pulumi
import pytest
import yaml

from infra.config import parse
from tests.support.components import KFP_NS, env_of
from tests.support.pulumi_mocks import MOCK_HASH, MOCK_PASSWORD, run, unsecret

pytestmark = pytest.mark.unit


LOGIN_RAW = {
    "kubeflowPipelines": {"ui": True},
    "login": {"enabled": True, "issuerUrl": "https://login.example.edu/dex", "uiUrl": "https://pipelines.example.edu",
              "staticUsers": ["alice@example.edu"]},
    "tenants": [{"name": "vision", "members": ["alice@example.edu"]}],
    "platform": {"allowedIngressCidrs": ["10.20.0.0/24"]},
}


def test_login_signs_people_in_at_dex_and_only_its_proxy_reaches_the_api_server_that_trusts_it(mocks):
    from infra.components.kubeflow_pipelines import IDENTITY_HEADER_DISABLED
    from infra.components.login import IDENTITY_HEADER

    run(LOGIN_RAW)
    dex_config = yaml.safe_load(unsecret(mocks.named("login-dex-config").inputs["stringData"])["config.yaml"])
    assert dex_config["issuer"] == "https://login.example.edu/dex"
    assert dex_config["staticPasswords"] == [{"email": "alice@example.edu", "hash": MOCK_HASH, "username": "alice",
                                              "userID": "alice"}], "Dex holds the bcrypt hash, not the password"
    assert dex_config["staticClients"][0]["redirectURIs"] == ["https://pipelines.example.edu/oauth2/callback"]
    assert "connectors" not in dex_config, "no LDAP connector unless login.ldap is set"
    passwords = unsecret(mocks.named("login-people-passwords").inputs["stringData"])
    assert passwords == {"alice": MOCK_PASSWORD}, "the generated password, for the admin to hand out"

    proxy = mocks.named("login-oauth2-proxy").inputs["spec"]["template"]["spec"]["containers"][0]
    args = proxy["args"]
    for flag in ("--upstream=http://ml-pipeline-ui.mlops-pipelines.svc.cluster.local:80", "--pass-user-headers=true",
                 "--pass-basic-auth=false", "--cookie-secure=true", "--approval-prompt=auto",
                 "--redeem-url=http://dex.mlops-login.svc.cluster.local:5556/dex/token",
                 "--login-url=https://login.example.edu/dex/auth"):
        assert flag in args, f"oauth2-proxy lacks {flag}: {args}"
    assert {e["name"]: e["valueFrom"]["secretKeyRef"]["key"] for e in proxy["env"]} == {
        "OAUTH2_PROXY_CLIENT_SECRET": "client-secret", "OAUTH2_PROXY_COOKIE_SECRET": "cookie-secret"}

    token_api = env_of(mocks.named("kubeflow-pipelines-api-server").inputs["spec"]["template"]["spec"]["containers"][0])
    people_api = env_of(mocks.named("kubeflow-pipelines-ml-pipeline-people").inputs["spec"]["template"]["spec"]["containers"][0])
    assert token_api["KUBEFLOW_USERID_HEADER"]["value"] == IDENTITY_HEADER_DISABLED
    assert people_api["KUBEFLOW_USERID_HEADER"]["value"] == IDENTITY_HEADER == "x-forwarded-email"
    ui = mocks.named("kubeflow-pipelines-ui").inputs["spec"]["template"]["spec"]
    ui_env = env_of(ui["containers"][0])
    assert ui_env["ML_PIPELINE_SERVICE_HOST"]["value"] == f"ml-pipeline-people.{KFP_NS}.svc.cluster.local"
    assert (ui_env["DEPLOYMENT"]["value"], ui_env["HIDE_SIDENAV"]["value"]) == ("KUBEFLOW", "false")
    selector_files = mocks.named("kubeflow-pipelines-ui-group-selector").inputs["data"]
    assert json.loads(selector_files["mlops-namespaces.json"]) == [
        {"namespace": "research-vision", "members": ["alice@example.edu"]}]
    assert "window.centraldashboard" in selector_files["dashboard_lib.bundle.js"]

    people_policy = mocks.named("kubeflow-pipelines-allow-people-api-server").inputs["spec"]
    assert people_policy["ingress"] == [{"from": [{"podSelector": {"matchLabels": {
        "app.kubernetes.io/name": "ml-pipeline-ui", "app.kubernetes.io/component": "pipelines"}}}],
        "ports": [{"protocol": "TCP", "port": 8888}]}], "only the UI's pods reach the API server that trusts the header"
    ui_policy = mocks.named("kubeflow-pipelines-allow-ui").inputs["spec"]
    assert ui_policy["ingress"][0]["from"] == [{"podSelector": {}}, {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mlops-login"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "oauth2-proxy"}}}], \
        "behind the login, the UI takes no traffic from the client CIDRs, only from the proxy"
    database_policy = mocks.named("kubeflow-pipelines-allow-database").inputs["spec"]
    assert {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ml-pipeline-people",
                                            "app.kubernetes.io/component": "pipelines"}}} in database_policy["ingress"][0]["from"]
    dex_policy = mocks.named("login-allow-dex").inputs["spec"]
    assert {"ipBlock": {"cidr": "10.20.0.0/24"}} in dex_policy["ingress"][0]["from"]
    assert not mocks.of_type("kubernetes:networking.k8s.io/v1:Ingress"), "no Ingress without platform.ingressClass"


def test_login_with_ldap_and_ingresses(mocks):
    raw = {**LOGIN_RAW, "platform": {"ingressClass": "nginx", "ingressTls": {"clusterIssuer": "campus-ca"}},
           "login": {**LOGIN_RAW["login"], "staticUsers": [], "ldap": {
               "host": "ldap.example.edu:636", "bindDN": "cn=dex,dc=example,dc=edu", "userBaseDN": "ou=people,dc=example,dc=edu",
               "groupBaseDN": "ou=groups,dc=example,dc=edu"}},
           "loginLdapBindPassword": "bind-secret"}
    from infra.deploy import deploy

    @pulumi.runtime.test
    def program():
        deploy(parse(raw, frozenset({"loginLdapBindPassword"})))
        return pulumi.Output.from_input(None)

    program()
    dex_config = yaml.safe_load(unsecret(mocks.named("login-dex-config").inputs["stringData"])["config.yaml"])
    assert (dex_config["enablePasswordDB"], "staticPasswords" in dex_config) == (False, False)
    connector = dex_config["connectors"][0]
    assert (connector["type"], connector["config"]["bindPW"]) == ("ldap", "bind-secret")
    assert connector["config"]["userSearch"]["baseDN"] == "ou=people,dc=example,dc=edu"
    assert connector["config"]["groupSearch"]["baseDN"] == "ou=groups,dc=example,dc=edu"
    hosts = {i.inputs["spec"]["rules"][0]["host"]: i.inputs for i in mocks.of_type("kubernetes:networking.k8s.io/v1:Ingress")}
    assert set(hosts) == {"login.example.edu", "pipelines.example.edu"}
    for host, ingress in hosts.items():
        assert ingress["spec"]["tls"][0]["hosts"] == [host]
        assert ingress["metadata"]["annotations"] == {"cert-manager.io/cluster-issuer": "campus-ca"}
