"""From a pod of a research group: the identity header sent straight to the API servers.

Run by tests/platform/test_ui_login.py."""

import json
import os
import urllib.error
import urllib.request

result = {}
for name, host in (("people", os.environ["PEOPLE_API"]), ("token", os.environ["TOKEN_API"])):
    request = urllib.request.Request(f"http://{host}/apis/v2beta1/runs?namespace=" + os.environ["NAMESPACE"],
                                     headers={os.environ["HEADER"]: os.environ["CLAIM"]})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            result[name] = [response.status, response.read()[:300].decode(errors="replace")]
    except urllib.error.HTTPError as error:
        result[name] = [error.code, error.read()[:300].decode(errors="replace")]
    except (TimeoutError, OSError) as error:
        result[name] = ["no connection", str(error)[:200]]
print("RESULT " + json.dumps(result))
