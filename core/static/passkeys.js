/* Passkeys (WebAuthn) for plugdesk: register a key on Profile › Security, use one at the second login step.
   No inline script (the CSP forbids it): buttons carry data-* attributes with their URLs and CSRF token. */
(function () {
  "use strict";

  function toBytes(b64url) {
    var b64 = b64url.replace(/-/g, "+").replace(/_/g, "/");
    while (b64.length % 4) { b64 += "="; }
    var bin = atob(b64), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) { out[i] = bin.charCodeAt(i); }
    return out.buffer;
  }

  function toB64url(buffer) {
    var bytes = new Uint8Array(buffer), bin = "";
    for (var i = 0; i < bytes.length; i++) { bin += String.fromCharCode(bytes[i]); }
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseCreationOptionsFromJSON) {
      return PublicKeyCredential.parseCreationOptionsFromJSON(json);
    }
    json.challenge = toBytes(json.challenge);
    json.user.id = toBytes(json.user.id);
    (json.excludeCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return json;
  }

  function requestOptions(json) {
    if (window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON) {
      return PublicKeyCredential.parseRequestOptionsFromJSON(json);
    }
    json.challenge = toBytes(json.challenge);
    (json.allowCredentials || []).forEach(function (c) { c.id = toBytes(c.id); });
    return json;
  }

  function credentialJSON(cred) {
    if (typeof cred.toJSON === "function") { return cred.toJSON(); }
    var r = cred.response, out = {id: cred.id, rawId: toB64url(cred.rawId), type: cred.type,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {}, response: {
        clientDataJSON: toB64url(r.clientDataJSON)}};
    if (r.attestationObject) {
      out.response.attestationObject = toB64url(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toB64url(r.authenticatorData);
      out.response.signature = toB64url(r.signature);
      if (r.userHandle) { out.response.userHandle = toB64url(r.userHandle); }
    }
    return out;
  }

  function post(url, csrf, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify(body || {})}).then(function (r) {
        return r.json().then(function (data) {
          if (!r.ok) { throw new Error(data.error || "The request failed."); }
          return data;
        });
      });
  }

  function say(el, text) { if (el) { el.textContent = text; el.hidden = !text; } }

  var login = document.getElementById("passkey-login");
  if (login) {
    login.addEventListener("click", function () {
      var status = document.getElementById("passkey-status");
      say(status, "");
      if (!window.PublicKeyCredential) { say(status, "This browser cannot use passkeys."); return; }
      post(login.dataset.options, login.dataset.csrf).then(function (options) {
        return navigator.credentials.get({publicKey: requestOptions(options)});
      }).then(function (cred) {
        return post(login.dataset.verify, login.dataset.csrf, credentialJSON(cred));
      }).then(function (data) { window.location.assign(data.redirect); })
        .catch(function (err) { say(status, err.message || "The passkey was not accepted."); });
    });
  }

  var add = document.getElementById("passkey-add");
  if (add) {
    add.addEventListener("click", function () {
      var status = document.getElementById("passkey-add-status");
      var name = document.getElementById("passkey-name").value;
      var password = document.getElementById("passkey-password").value;
      say(status, "");
      if (!window.PublicKeyCredential) { say(status, "This browser cannot use passkeys."); return; }
      post(add.dataset.options, add.dataset.csrf, {name: name, password: password}).then(function (options) {
        return navigator.credentials.create({publicKey: creationOptions(options)});
      }).then(function (cred) {
        return post(add.dataset.register, add.dataset.csrf, credentialJSON(cred));
      }).then(function (data) {
        if (data.recovery_codes) {
          var list = document.getElementById("new-codes-list");
          data.recovery_codes.forEach(function (code) {
            var li = document.createElement("li");
            li.textContent = code;
            list.appendChild(li);
          });
          document.getElementById("new-codes").hidden = false;
          say(status, "Passkey \u201c" + data.name + "\u201d added. Keep the recovery codes below.");
        } else {
          window.location.assign(add.dataset.done);
        }
      }).catch(function (err) { say(status, err.message || "The passkey could not be added."); });
    });
  }
})();
