/* plugdesk built-in captcha: the "New challenge" button (no inline scripts: CSP script-src 'self'). */
(function () {
  "use strict";
  function setup(box) {
    if (box.dataset.captchaReady) { return; }
    box.dataset.captchaReady = "1";
    var button = box.querySelector(".captcha-new");
    var token = box.querySelector('input[name="captcha_token"]');
    var answer = box.querySelector('input[name="captcha_answer"]');
    var image = box.querySelector(".captcha-image");
    var audio = box.querySelector("audio");
    var link = box.querySelector(".captcha-audio-link");
    var status = box.querySelector(".captcha-status");
    if (!button || !token) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      button.disabled = true;
      status.textContent = "Loading a new challenge…";
      fetch(box.dataset.challengeUrl, {credentials: "same-origin", headers: {"Accept": "application/json"}})
        .then(function (r) {
          if (!r.ok) { throw new Error(r.status === 429 ? "Too many new challenges. Wait a minute." : "Could not load a new challenge."); }
          return r.json();
        })
        .then(function (c) {
          token.value = c.token;
          image.src = c.image_url;
          if (audio && c.audio_url) { audio.src = c.audio_url; audio.load(); }
          if (link && c.audio_url) { link.href = c.audio_url; }
          answer.value = "";
          answer.focus();
          status.textContent = "New challenge loaded.";
        })
        .catch(function (e) { status.textContent = e.message; })
        .then(function () { button.disabled = false; });
    });
  }
  function init() { document.querySelectorAll(".captcha-builtin").forEach(setup); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
}());
