// The research-group selector of the Kubeflow Pipelines UI, served as /dashboard_lib.bundle.js.
//
// In multi-user mode (DEPLOYMENT=KUBEFLOW) the UI learns which namespace to show from the client
// library of Kubeflow's central dashboard (window.centraldashboard), which this platform does not
// run. This file is that library for the UI behind the Login component: it asks oauth2-proxy who
// is signed in (/oauth2/userinfo), reads which research groups' namespaces list that person as a
// member (/mlops-namespaces.json, written by the platform from the stack's tenants), tells the UI
// one of them (?ns= in the address, else the last one chosen, else the first) and shows a selector
// to switch. It decides nothing about access: the API server authorizes every request (RBAC).
(function () {
  "use strict";
  var STORAGE_KEY = "mlops-platform/namespace";

  function wanted() {
    var query = window.location.hash.split("?")[1] || window.location.search.slice(1);
    var fromAddress = new URLSearchParams(query).get("ns");
    try {
      return fromAddress || window.localStorage.getItem(STORAGE_KEY);
    } catch (error) {
      return fromAddress;
    }
  }

  function remember(namespace) {
    try {
      window.localStorage.setItem(STORAGE_KEY, namespace);
    } catch (error) {
      // Storage refused (private window): the choice lasts for this page only.
    }
  }

  function bar(email, groups, chosen, select) {
    var box = document.createElement("div");
    box.id = "mlops-namespace-bar";
    box.style.cssText = "position:fixed;bottom:8px;right:16px;z-index:2000;font:13px sans-serif;" +
      "background:#fff;border:1px solid #dadce0;border-radius:4px;padding:4px 8px;display:flex;gap:8px;align-items:center";
    var who = document.createElement("span");
    who.id = "mlops-user";
    who.textContent = email || "not signed in";
    box.appendChild(who);
    if (groups.length) {
      var list = document.createElement("select");
      list.id = "mlops-namespace";
      groups.forEach(function (group) {
        var option = document.createElement("option");
        option.value = group.namespace;
        option.textContent = group.namespace;
        option.selected = group.namespace === chosen;
        list.appendChild(option);
      });
      list.addEventListener("change", function () {
        remember(list.value);
        select(list.value);
      });
      box.appendChild(list);
    } else {
      var none = document.createElement("span");
      none.id = "mlops-no-group";
      none.textContent = "member of no research group";
      box.appendChild(none);
    }
    var out = document.createElement("a");
    out.href = "/oauth2/sign_out";
    out.textContent = "Sign out";
    box.appendChild(out);
    document.body.appendChild(box);
  }

  function start(handler) {
    function select(namespace) {
      if (typeof handler.onNamespaceSelected === "function") {
        handler.onNamespaceSelected(namespace);
      }
    }
    var json = function (response) {
      if (!response.ok) {
        throw new Error(response.url + " answered " + response.status);
      }
      return response.json();
    };
    Promise.all([
      fetch("/oauth2/userinfo", {credentials: "same-origin"}).then(json),
      fetch("/mlops-namespaces.json", {credentials: "same-origin"}).then(json),
    ]).then(function (answers) {
      var email = answers[0].email;
      var groups = answers[1].filter(function (group) {
        return group.members.indexOf(email) >= 0;
      });
      var asked = wanted();
      var chosen = groups.filter(function (group) { return group.namespace === asked; })[0] || groups[0];
      var show = function () { bar(email, groups, chosen && chosen.namespace, select); };
      if (document.body) {
        show();
      } else {
        document.addEventListener("DOMContentLoaded", show);
      }
      if (chosen) {
        select(chosen.namespace);
      }
    }).catch(function (error) {
      console.error("mlops-platform: no research group chosen:", error);
    });
  }

  window.centraldashboard = {
    CentralDashboardEventHandler: {
      init: function (callback) {
        var handler = {};
        callback(handler, false);
        start(handler);
      },
    },
  };
})();
