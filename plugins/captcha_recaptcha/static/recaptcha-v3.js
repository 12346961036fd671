/* plugdesk reCAPTCHA v3: fetch a token for the form's action right before submitting (CSP: no inline JS). */
(function () {
  "use strict";
  function setup(field) {
    var form = field.form;
    if (!form || form.dataset.recaptchaReady) { return; }
    form.dataset.recaptchaReady = "1";
    form.addEventListener("submit", function (event) {
      if (field.value || typeof grecaptcha === "undefined") { return; }  /* no grecaptcha: server refuses */
      event.preventDefault();
      grecaptcha.ready(function () {
        grecaptcha.execute(field.dataset.sitekey, {action: field.dataset.action}).then(function (token) {
          field.value = token;
          if (form.requestSubmit) { form.requestSubmit(event.submitter || undefined); } else { form.submit(); }
        });
      });
    });
  }
  function init() { document.querySelectorAll("input.recaptcha-v3").forEach(setup); }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
}());
