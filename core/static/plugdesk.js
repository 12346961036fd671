/* plugdesk: behaviour every page shares. Loaded from 'self' only (the CSP allows no inline script).
 *
 * - Confirmation: a form with data-confirm="Question?" asks before it is sent; Cancel sends nothing.
 *   (Submitting buttons may carry their own data-confirm.)
 * - Scrollable tables get tabindex="0" so keyboard users can scroll them (WCAG 2.1.1, axe
 *   scrollable-region-focusable).
 * - A colour picker with data-colour-for="ID" keeps the text field ID in step (Settings > Branding).
 */
(function () {
  "use strict";

  function confirmSubmit(event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    var submitter = event.submitter;
    var question = (submitter && submitter.getAttribute("data-confirm")) || form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }

  function markScrollableTables() {
    var tables = document.querySelectorAll("table");
    for (var i = 0; i < tables.length; i++) {
      var table = tables[i];
      if (table.scrollWidth > table.clientWidth + 1 || table.scrollHeight > table.clientHeight + 1) {
        if (!table.hasAttribute("tabindex")) {
          table.setAttribute("tabindex", "0");
          table.setAttribute("data-scrollable", "");
        }
      } else if (table.hasAttribute("data-scrollable")) {
        table.removeAttribute("tabindex");
        table.removeAttribute("data-scrollable");
      }
    }
  }

  function linkColourPickers() {
    var pickers = document.querySelectorAll("input[type=color][data-colour-for]");
    Array.prototype.forEach.call(pickers, function (picker) {
      var text = document.getElementById(picker.getAttribute("data-colour-for"));
      if (!text) { return; }
      picker.addEventListener("input", function () { text.value = picker.value; });
      text.addEventListener("input", function () {
        if (/^#[0-9a-fA-F]{6}$/.test(text.value)) { picker.value = text.value.toLowerCase(); }
      });
    });
  }

  document.addEventListener("submit", confirmSubmit, true);
  document.addEventListener("DOMContentLoaded", function () {
    markScrollableTables();
    linkColourPickers();
  });
  window.addEventListener("resize", markScrollableTables);
})();
