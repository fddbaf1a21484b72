// accesswatch console.
//
// On the local endpoint (and on any page not opened from a sign-in page) the console is plain HTML: links and
// forms work without this script, which only asks to confirm decisions, so that a stray Enter does not close
// a case.
//
// On AWS the HTTP API's JWT authorizer wants the Cognito id token in the Authorization header of every request,
// and a browser sends no such header by itself. So the pages under /auth/ (pages/auth.py, the only pages a
// browser opens directly there) carry the sign-in settings in data- attributes of <body>, and this script:
//   /auth/sign-in   starts the authorization-code flow with PKCE at the hosted sign-in page (the verifier and
//                   a state value kept in sessionStorage);
//   /auth/callback  exchanges the code for tokens at the token endpoint and keeps the id token in
//                   sessionStorage (this tab only, gone when it closes);
//   /auth/console   loads the page named after "#" (the queue by default) with fetch and the token, puts its
//                   <body> in place of the current one, and does the same for every link and form after; a
//                   page's own address stays after "#", so reload, back and bookmarks work;
//   /auth/sign-out  forgets the token and signs out of the hosted page too.
// With no token, or one the API refuses, the person is sent to /auth/sign-in and comes back where they were.
"use strict";
(function () {
  var TOKEN = "accesswatch.idToken";
  var EXPIRES = "accesswatch.idTokenExpires";
  var VERIFIER = "accesswatch.pkceVerifier";
  var STATE = "accesswatch.oauthState";
  var NEXT = "accesswatch.next";
  var CONSOLE_PAGE = "/auth/console";

  var settings = document.body ? document.body.dataset : {};
  var mode = settings.auth || "";
  var domain = settings.cognitoDomain || "";
  var clientId = settings.clientId || "";

  function confirmed(form) {
    return !(form.dataset && form.dataset.confirm) || window.confirm(form.dataset.confirm);
  }

  if (!mode || !domain || !clientId) {
    // Plain pages (the local endpoint): confirmations only.
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (form && !confirmed(form)) {
        event.preventDefault();
      }
    });
    return;
  }

  // ------------------------------------------------------------------ tokens
  function base64url(bytes) {
    var text = "";
    for (var i = 0; i < bytes.length; i += 1) {
      text += String.fromCharCode(bytes[i]);
    }
    return window.btoa(text).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function randomValue() {
    var bytes = new Uint8Array(32);
    window.crypto.getRandomValues(bytes);
    return base64url(bytes);
  }

  function claimsOf(token) {
    try {
      var part = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
      while (part.length % 4) {
        part += "=";
      }
      return JSON.parse(window.atob(part));
    } catch (error) {
      return null;
    }
  }

  function currentToken() {
    var token = sessionStorage.getItem(TOKEN) || "";
    var expires = Number(sessionStorage.getItem(EXPIRES) || 0);
    return token && Date.now() < expires - 60000 ? token : "";  // a minute's margin
  }

  function forget() {
    [TOKEN, EXPIRES, VERIFIER, STATE].forEach(function (key) { sessionStorage.removeItem(key); });
  }

  // A path of this site ("/queue?status=open"), never another origin ("//host", "/\host") or a scheme.
  function sitePath(value) {
    return typeof value === "string" && /^\/(?![\/\\])/.test(value) ? value : "/";
  }

  function signIn(next) {
    forget();
    sessionStorage.setItem(NEXT, sitePath(next));
    window.location.replace("/auth/sign-in");
  }

  function say(text) {
    var status = document.getElementById("auth-status");
    if (status) {
      status.textContent = text;
    }
  }

  function offerSignIn(text) {
    say(text);
    var main = document.getElementById("main");
    if (main && !document.getElementById("sign-in-again")) {
      var link = document.createElement("a");
      link.id = "sign-in-again";
      link.href = CONSOLE_PAGE;
      link.textContent = "Sign in again";
      var line = document.createElement("p");
      line.appendChild(link);
      main.appendChild(line);
    }
  }

  function startSignIn() {
    var verifier = randomValue();
    var state = randomValue();
    sessionStorage.setItem(VERIFIER, verifier);
    sessionStorage.setItem(STATE, state);
    window.crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)).then(function (digest) {
      var query = new URLSearchParams({
        response_type: "code",
        client_id: clientId,
        redirect_uri: window.location.origin + "/auth/callback",
        scope: "openid",
        state: state,
        code_challenge: base64url(new Uint8Array(digest)),
        code_challenge_method: "S256"
      });
      window.location.replace(domain + "/oauth2/authorize?" + query.toString());
    });
  }

  function finishSignIn() {
    var answer = new URLSearchParams(window.location.search);
    var verifier = sessionStorage.getItem(VERIFIER) || "";
    var state = sessionStorage.getItem(STATE) || "";
    sessionStorage.removeItem(VERIFIER);
    sessionStorage.removeItem(STATE);
    if (answer.get("error")) {
      offerSignIn("The sign-in page refused: " + answer.get("error"));
      return;
    }
    if (!answer.get("code") || !verifier || !state || answer.get("state") !== state) {
      offerSignIn("This sign-in did not start here, or has already been used.");
      return;
    }
    var form = new URLSearchParams({
      grant_type: "authorization_code",
      client_id: clientId,
      code: answer.get("code"),
      redirect_uri: window.location.origin + "/auth/callback",
      code_verifier: verifier
    });
    window.fetch(domain + "/oauth2/token", {
      method: "POST",
      headers: {"Content-Type": "application/x-www-form-urlencoded"},
      body: form.toString()
    }).then(function (response) {
      if (!response.ok) {
        throw new Error("token endpoint answered " + response.status);
      }
      return response.json();
    }).then(function (tokens) {
      var claims = claimsOf(tokens.id_token || "");
      if (!claims || !claims.exp) {
        throw new Error("no id token");
      }
      sessionStorage.setItem(TOKEN, tokens.id_token);
      sessionStorage.setItem(EXPIRES, String(claims.exp * 1000));
      var next = sitePath(sessionStorage.getItem(NEXT) || "/");
      sessionStorage.removeItem(NEXT);
      window.location.replace(CONSOLE_PAGE + "#" + next);
    }).catch(function () {
      offerSignIn("Signing in did not finish.");
    });
  }

  function signOut() {
    forget();
    sessionStorage.removeItem(NEXT);
    var query = new URLSearchParams({client_id: clientId, logout_uri: window.location.origin + "/auth/signed-out"});
    window.location.replace(domain + "/logout?" + query.toString());
  }

  // ------------------------------------------------------------------ the console page
  function shown() {
    return sitePath(window.location.hash.slice(1) || "/");
  }

  function consoleHref(path) {
    return CONSOLE_PAGE + "#" + path;
  }

  // A link or form target the console loads itself (not the sign-in pages, the static files or a fragment).
  function loadable(path) {
    return /^\/(?![\/\\])/.test(path) && path.indexOf("/auth/") !== 0 && path.indexOf("/static/") !== 0;
  }

  function adopt(root) {
    root.querySelectorAll("a[href]").forEach(function (link) {
      var path = link.getAttribute("href");
      if (loadable(path)) {
        link.dataset.path = path;
        link.setAttribute("href", consoleHref(path));  // a new tab or a copied link opens the same page
      }
    });
  }

  function filenameOf(disposition) {
    var found = /filename="([^"]+)"/.exec(disposition || "");
    return found ? found[1] : "download";
  }

  function save(blob, name) {
    var url = URL.createObjectURL(blob);
    var link = document.createElement("a");
    link.href = url;
    link.download = name;
    document.body.appendChild(link);
    link.click();
    link.remove();
    window.setTimeout(function () { URL.revokeObjectURL(url); }, 60000);
  }

  var refreshTimer = 0;

  function place(html, path, history) {
    var page = new DOMParser().parseFromString(html, "text/html");
    // A page that asks to be reloaded (a case whose workflow is still recording an action) is loaded again
    // after its delay: only the <body> is put in place, so its <meta http-equiv="refresh"> would not act.
    window.clearTimeout(refreshTimer);
    var refresh = page.querySelector('meta[http-equiv="refresh"]');
    var seconds = refresh ? parseInt(refresh.getAttribute("content"), 10) : 0;
    if (seconds > 0) {
      refreshTimer = window.setTimeout(function () { load(shown(), {}, ""); }, seconds * 1000);
    }
    var body = document.adoptNode(page.body);
    adopt(body);
    document.title = page.title;
    document.documentElement.replaceChild(body, document.body);
    if (history === "push") {
      window.history.pushState(null, "", consoleHref(path));
    } else if (history === "replace") {
      window.history.replaceState(null, "", consoleHref(path));
    }
    var main = document.getElementById("main");
    if (main) {
      main.focus();
    }
  }

  // Load a page (or submit a form) with the token; history: "push", "replace" or "" (back and forward).
  function load(path, init, history) {
    var token = currentToken();
    if (!token) {
      signIn(path);
      return;
    }
    var request = init || {};
    request.headers = Object.assign({"Authorization": "Bearer " + token}, request.headers || {});
    request.credentials = "same-origin";
    document.body.setAttribute("aria-busy", "true");
    window.fetch(path, request).then(function (response) {
      var type = response.headers.get("Content-Type") || "";
      if (response.status === 401 && type.indexOf("text/html") !== 0) {
        signIn(path);  // the API refused the token (expired, revoked, another pool)
        return null;
      }
      var disposition = response.headers.get("Content-Disposition") || "";
      if (disposition.indexOf("attachment") === 0 || type.indexOf("text/html") !== 0) {
        return response.blob().then(function (blob) {
          document.body.removeAttribute("aria-busy");
          save(blob, filenameOf(disposition));
        });
      }
      var landed = new URL(response.url);
      // A form answered in place (an error shown with the form) keeps the address of the page it came from.
      var after = request.method === "POST" && !response.redirected ? "" : history;
      return response.text().then(function (html) {
        place(html, landed.pathname + landed.search, after);
      });
    }).catch(function () {
      document.body.removeAttribute("aria-busy");
      window.alert("The console could not be reached. Check the connection and try again.");
    });
  }

  function submitted(event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) {
      return;
    }
    if (!confirmed(form)) {
      event.preventDefault();
      return;
    }
    var action = form.getAttribute("action") || shown();
    if (!loadable(action)) {
      return;
    }
    event.preventDefault();
    var data;
    try {
      data = new FormData(form, event.submitter || undefined);
    } catch (error) {
      data = new FormData(form);
    }
    var fields = new URLSearchParams(data).toString();
    if ((form.getAttribute("method") || "get").toLowerCase() === "post") {
      load(action, {method: "POST", headers: {"Content-Type": "application/x-www-form-urlencoded"}, body: fields},
           "push");
    } else {
      load(action.split("?")[0] + (fields ? "?" + fields : ""), {}, "push");
    }
  }

  function clicked(event) {
    if (event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey ||
        event.altKey) {
      return;  // a new tab or window opens the link's /auth/console# address itself
    }
    var link = event.target.closest ? event.target.closest("a[href]") : null;
    if (!link) {
      return;
    }
    var href = link.getAttribute("href");
    if (href.charAt(0) === "#") {
      event.preventDefault();  // "Skip to content": move focus, not the address (it names the page)
      var target = document.getElementById(href.slice(1));
      if (target) {
        target.focus();
      }
      return;
    }
    if (link.dataset.path) {
      event.preventDefault();
      load(link.dataset.path, {}, "push");
    }
  }

  function openConsole() {
    document.addEventListener("submit", submitted);
    document.addEventListener("click", clicked);
    window.addEventListener("popstate", function () { load(shown(), {}, ""); });
    load(shown(), {}, "replace");
  }

  if (mode === "sign-in") {
    startSignIn();
  } else if (mode === "callback") {
    finishSignIn();
  } else if (mode === "console") {
    openConsole();
  } else if (mode === "sign-out") {
    signOut();
  }
}());
