"""People sign in to the Kubeflow Pipelines UI (the Login component), checked for real on the
local stack: Dex and oauth2-proxy reached through port-forwards at the addresses the stack names
(login.issuerUrl, login.uiUrl), as from a person's laptop; a real browser (Debian's chromium)
signs alice in, and the UI shows her group's runs (this file runs after test_platform.py, whose
one-step pipeline runs in her group) while the API refuses her another group's.

Refusals, each asserted on its own: a request without a session reaches nothing (sent to Dex's
sign-in page); a wrong password gets no session; a signed-in person gets 403 for another group's
namespace, also when the request claims to be a member of that group (oauth2-proxy replaces the
identity header); a pod of a research group that sends the identity header straight to the people
API server gets no connection (NetworkPolicy), and the token-only API server ignores the header."""

from __future__ import annotations

import base64
import contextlib
import html
import http.cookiejar
import json
import re
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from infra.components.kubeflow_pipelines import API_HTTP_PORT, API_SERVICE
from infra.components.kubeflow_pipelines.common import PEOPLE_API_SERVICE
from infra.components.login import DEX, DEX_PORT, IDENTITY_HEADER, PASSWORDS_SECRET, PROXY, PROXY_PORT
from infra.config import LoginConfig
from tests.support import webdriver
from tests.support.cluster import ROOT, kubeconfig, kubectl
from tests.support.platform import CFG, pipeline_image, run_script_pod, tenant_named
from tests.support.scripts import pod_script

pytestmark = pytest.mark.e2e

LOGIN = CFG.login
SCREENSHOT = ROOT / "build" / "screenshots" / "login-kfp-ui.png"
COOKIE = "_mlops_login"


def _enabled() -> None:
    if not LOGIN.enabled:
        pytest.skip("LOUD SKIP: login.enabled is false in the local stack: nobody signs in")


def _local_port(url: str) -> int:
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname == "localhost", f"the local stack's {url} must be on localhost (a port-forward)"
    return parts.port or 80


@contextlib.contextmanager
def _forward(service: str, port: int, local: int):
    """`kubectl port-forward` at the fixed local port the stack's address names."""
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", local)) == 0:
            pytest.fail(f"localhost:{local} is taken by another program; the local stack's login addresses "
                        f"need it for the port-forward to {LOGIN.namespace}/{service}")
    process = subprocess.Popen(["kubectl", "--kubeconfig", kubeconfig(), "port-forward", "-n", LOGIN.namespace,
                                f"svc/{service}", f"{local}:{port}"], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("Forwarding from 127.0.0.1:"), f"port-forward to {LOGIN.namespace}/{service}: {line}"
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def login():
    """Dex and oauth2-proxy at the addresses of the stack (localhost:5556, localhost:4180)."""
    _enabled()
    kubectl("rollout", "status", "-n", LOGIN.namespace, f"deployment/{DEX}", f"deployment/{PROXY}", "--timeout=180s")
    with _forward(DEX, DEX_PORT, _local_port(LOGIN.issuer_url)), \
            _forward(PROXY, PROXY_PORT, _local_port(LOGIN.ui_url)):
        yield


def password(email: str) -> str:
    key = LoginConfig.user_key(email)
    data = kubectl("get", "secret", "-n", LOGIN.namespace, PASSWORDS_SECRET, "-o", f"jsonpath={{.data.{key}}}")
    assert data, f"no password of {email} in {LOGIN.namespace}/{PASSWORDS_SECRET}"
    return base64.b64decode(data).decode()


def member(tenant: str) -> str:
    """The signing-in member (a static user) of `tenant`."""
    found = [email for email in LOGIN.static_users if email in tenant_named(tenant).members]
    assert found, f"no login.staticUsers address among tenant {tenant}'s members"
    return found[0]


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *_args, **_kwargs):
        return None


def _open(opener: urllib.request.OpenerDirector, url: str, data: dict | None = None,
          headers: dict | None = None) -> tuple[int, str, str, dict]:
    """(status, final URL, body, headers) without raising for an HTTP error status."""
    request = urllib.request.Request(url, data=urllib.parse.urlencode(data).encode() if data else None,  # noqa: S310
                                     headers=headers or {})
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, response.geturl(), response.read().decode(errors="replace"), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.geturl(), error.read().decode(errors="replace"), dict(error.headers)


def sign_in(login_name: str, secret: str, connector: str = "local") -> tuple[
        urllib.request.OpenerDirector, http.cookiejar.CookieJar, str]:
    """The HTTP exchange a browser makes: the UI sends to Dex, the person picks how to sign in
    (Dex's password database, `local`, or the directory, `ldap`), Dex's form is posted, Dex sends
    back to oauth2-proxy's callback, which sets the session cookie. Returns the opener with its
    cookies and the page it ended on."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    status, url, page, _ = _open(opener, LOGIN.ui_url + "/")
    choice = re.search(r'href="([^"]*/auth/' + connector + r'[?/][^"]*)"', page)
    if choice:  # more than one way to sign in: Dex lists them
        status, url, page, _ = _open(opener, urllib.parse.urljoin(url, html.unescape(choice.group(1))))
    form = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert (status, url.startswith(LOGIN.issuer_url), bool(form)) == (200, True, True), \
        f"the UI did not send to Dex's sign-in form: {status} at {url}: {page[:300]}"
    status, url, page, _ = _open(opener, urllib.parse.urljoin(url, html.unescape(form.group(1))),
                                 {"login": login_name, "password": secret})
    return opener, jar, url


def test_a_request_without_a_session_is_sent_to_sign_in_and_reaches_nothing(login):
    opener = urllib.request.build_opener(_NoRedirect)
    vision = tenant_named("vision").namespace
    for headers in ({}, {IDENTITY_HEADER: member("vision")}):
        status, _, body, answer = _open(opener, f"{LOGIN.ui_url}/apis/v2beta1/runs?namespace={vision}", headers=headers)
        assert (status, answer.get("Location", "").startswith(LOGIN.issuer_url + "/auth?")) == (302, True), \
            f"without a session (headers {headers}) the UI's API answered {status} {answer.get('Location')}: {body[:300]}"


def test_a_wrong_password_gets_no_session(login):
    email = member("vision")
    _, jar, url = sign_in(email, password(email) + "x")
    assert COOKIE not in [cookie.name for cookie in jar], "a wrong password was given a session"
    assert url.startswith(LOGIN.issuer_url), f"a wrong password left Dex's form: {url}"


def test_a_signed_in_person_reaches_their_groups_runs_and_not_another_groups_even_claiming_its_member(login):
    email = member("vision")
    opener, jar, url = sign_in(email, password(email))
    assert (COOKIE in [cookie.name for cookie in jar], url.startswith(LOGIN.ui_url)) == (True, True), \
        f"{email} was not signed in: ended at {url}, cookies {[c.name for c in jar]}"
    vision, nlp = tenant_named("vision").namespace, tenant_named("nlp").namespace
    status, _, body, _ = _open(opener, f"{LOGIN.ui_url}/apis/v2beta1/runs?namespace={vision}")
    assert (status, body.lstrip()[:1]) == (200, "{"), f"{email} listing {vision}'s runs: {status} {body[:300]}"
    for headers in ({}, {IDENTITY_HEADER: member("nlp")}):
        status, _, body, _ = _open(opener, f"{LOGIN.ui_url}/apis/v2beta1/runs?namespace={nlp}", headers=headers)
        assert status == 403, f"{email} listing {nlp}'s runs (headers {headers}): {status} {body[:300]}"
        assert f"User '{email}'" in body, f"the API server did not know the caller as {email}: {body[:400]}"


# The stand-in directory (offline/images/directory/) where the local stack's LDAP connector searches.
DIRECTORY_NAMESPACE = "mlops-directory"
DIRECTORY_IMAGE = "mlops.local/tests/directory:slapd-bookworm"


@pytest.fixture(scope="module")
def directory(login):
    """The directory with one person, carol (a member of nlp by her address in the local stack),
    and a password made here; returns (uid, address, password)."""
    if not LOGIN.ldap:
        pytest.skip("LOUD SKIP: the local stack's login.ldap is empty: no directory to sign in through")
    person = ("carol", "carol@mlops.local", secrets.token_hex(12))
    host = LOGIN.ldap["host"]
    assert host.startswith(f"directory.{DIRECTORY_NAMESPACE}.svc"), f"the local stack's login.ldap.host {host} is not the stand-in"
    labels = {"app.kubernetes.io/name": "directory", "app.kubernetes.io/part-of": "mlops-platform-tests"}
    kubectl("apply", "-f", "-", stdin=json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": DIRECTORY_NAMESPACE, "labels": {
            "pod-security.kubernetes.io/enforce": "restricted", "app.kubernetes.io/part-of": "mlops-platform-tests"}}},
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "people", "namespace": DIRECTORY_NAMESPACE},
         "stringData": {"people": " ".join(person)}},
        {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "directory", "namespace": DIRECTORY_NAMESPACE},
         "spec": {"replicas": 1, "selector": {"matchLabels": labels}, "template": {"metadata": {"labels": labels}, "spec": {
             "automountServiceAccountToken": False,
             "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "seccompProfile": {"type": "RuntimeDefault"}},
             "containers": [{"name": "slapd", "image": DIRECTORY_IMAGE, "imagePullPolicy": "IfNotPresent",
                             "env": [{"name": "DIRECTORY_PEOPLE", "valueFrom": {"secretKeyRef": {"name": "people", "key": "people"}}}],
                             "ports": [{"containerPort": 1389}],
                             "readinessProbe": {"tcpSocket": {"port": 1389}, "periodSeconds": 2},
                             "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
                             "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}},
                             "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}]}],  # noqa: S108 - an emptyDir
             "volumes": [{"name": "tmp", "emptyDir": {}}]}}}},
        {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "directory", "namespace": DIRECTORY_NAMESPACE},
         "spec": {"selector": labels, "ports": [{"name": "ldap", "port": 1389, "targetPort": 1389}]}}]}))
    # A new password each run: the pod starts again with it.
    kubectl("rollout", "restart", "-n", DIRECTORY_NAMESPACE, "deployment/directory")
    kubectl("rollout", "status", "-n", DIRECTORY_NAMESPACE, "deployment/directory", "--timeout=180s")
    return person


def test_a_person_of_the_directory_signs_in_and_reaches_their_groups_runs_only(directory):
    """Dex's LDAP connector as the local stack configures it: carol, who exists only in the
    directory, signs in with her directory password; a wrong one gets no session."""
    uid, email, secret = directory
    # The directory's Service is new or has a new pod: until the network has its address, Dex
    # cannot connect (it says so in its log and on its page); up to 60 s.
    deadline = time.monotonic() + 60
    while True:
        opener, jar, url = sign_in(uid, secret, connector="ldap")
        if COOKIE in [cookie.name for cookie in jar] or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert (COOKIE in [cookie.name for cookie in jar], url.startswith(LOGIN.ui_url)) == (True, True), \
        f"{uid} was not signed in through the directory: ended at {url}; Dex's log:\n" + \
        kubectl("logs", "-n", LOGIN.namespace, f"deployment/{DEX}", "--tail=5", check=False)
    # Now that Dex reaches the directory, a wrong password is refused by the directory itself.
    _, wrong_jar, url = sign_in(uid, secret + "x", connector="ldap")
    assert COOKIE not in [cookie.name for cookie in wrong_jar], f"a wrong directory password was given a session ({url})"
    nlp, vision = tenant_named("nlp").namespace, tenant_named("vision").namespace
    status, _, body, _ = _open(opener, f"{LOGIN.ui_url}/apis/v2beta1/runs?namespace={nlp}")
    assert (status, body.lstrip()[:1]) == (200, "{"), f"{email} listing {nlp}'s runs: {status} {body[:300]}"
    status, _, body, _ = _open(opener, f"{LOGIN.ui_url}/apis/v2beta1/runs?namespace={vision}")
    assert (status, f"User '{email}'" in body) == (403, True), \
        f"{email} (known by the address the directory gives) listing {vision}'s runs: {status} {body[:300]}"


# From a pod of a research group: the identity header sent straight to the API servers.
SPOOF_SCRIPT = pod_script("login_header_spoof")


def test_a_research_pod_cannot_claim_an_identity_at_the_api_servers(login):
    kfp_ns = CFG.kubeflow_pipelines.namespace
    vision, nlp = tenant_named("vision").namespace, tenant_named("nlp").namespace
    result = run_script_pod(vision, "identity-claim", pipeline_image(), SPOOF_SCRIPT, [
        {"name": "PEOPLE_API", "value": f"{PEOPLE_API_SERVICE}.{kfp_ns}.svc.cluster.local:{API_HTTP_PORT}"},
        {"name": "TOKEN_API", "value": f"{API_SERVICE}.{kfp_ns}.svc.cluster.local:{API_HTTP_PORT}"},
        {"name": "NAMESPACE", "value": nlp}, {"name": "HEADER", "value": IDENTITY_HEADER},
        {"name": "CLAIM", "value": member("nlp")}], timeout=180)
    assert result["people"][0] == "no connection", \
        f"a pod of {vision} reached the people API server, which trusts {IDENTITY_HEADER}: {result['people']}"
    assert result["token"][0] == 401, \
        f"the token-only API server with {IDENTITY_HEADER} and no token answered: {result['token']}"


def test_alice_signs_in_with_a_real_browser_and_the_ui_shows_her_groups_runs_only(login):
    absent = webdriver.missing()
    if absent:
        pytest.fail(f"LOUD FAILURE: the browser test needs {', '.join(absent)}: apt-get install chromium chromium-driver")
    email = member("vision")
    vision, nlp = tenant_named("vision").namespace, tenant_named("nlp").namespace
    fetch = """const [url, claim, done] = arguments;
fetch(url, {headers: claim ? {"X-Forwarded-Email": claim} : {}, credentials: "same-origin"})
  .then(r => r.text().then(t => done([r.status, t]))).catch(e => done(["error", String(e)]));"""
    with webdriver.Browser() as browser:
        browser.open(LOGIN.ui_url + "/")
        browser.wait_until("Dex's sign-in page", lambda: browser.url.startswith(LOGIN.issuer_url))
        if LOGIN.ldap:  # two ways to sign in: Dex lists them
            browser.click('a[href*="/auth/local"]')
        browser.type("#login", email)
        browser.type("#password", password(email))
        browser.click("#submit-login")
        browser.wait_until("back at the UI", lambda: browser.url.startswith(LOGIN.ui_url))
        browser.wait_until("the Kubeflow Pipelines app", lambda: "Kubeflow Pipelines" in browser.title, timeout=90)
        # The newest runs of her group, as the API lists them to her through the UI's server.
        mine = browser.run_async(fetch, f"/apis/v2beta1/runs?namespace={vision}&page_size=10"
                                        "&sort_by=created_at%20desc", "")
        theirs = browser.run_async(fetch, f"/apis/v2beta1/runs?namespace={nlp}", member("nlp"))
        assert mine[0] == 200, f"{email}'s own runs in the browser: {mine}"
        names = [run["display_name"] for run in json.loads(mine[1]).get("runs", [])]
        # The app's runs page: the group selector chose her group, the table lists those runs.
        browser.open(f"{LOGIN.ui_url}/#/runs")
        chosen = browser.wait_until("the group selector", lambda: browser.run(
            "const s = document.getElementById('mlops-namespace'); return s && s.value;"))
        expected = names or ["No available runs found for this namespace"]
        shown = browser.wait_until(f"the runs table showing {expected}",
                                   lambda: all(name in browser.text() for name in expected) and browser.text())
        user = browser.run("return document.getElementById('mlops-user').textContent;")
        shot = browser.screenshot(SCREENSHOT)
    assert (user, chosen) == (email, vision), f"the UI's bar shows {user} in {chosen}"
    assert "failed to fetch" not in shown.lower(), f"the runs page reports an error: {shown[:500]}"
    assert (theirs[0], f"User '{email}'" in theirs[1]) == (403, True), f"{nlp}'s runs in {email}'s browser: {theirs}"
    assert shot.stat().st_size > 10_000, f"the screenshot {shot} is nearly empty"
