/* Confirms a one-click answer from a mail once the page has loaded in a browser.
 *
 * Opening the link never stores anything (mail scanners open every link); this script sends the
 * page's confirmation form in the background a moment after the page has loaded, the way a
 * reader would press its button. Without JavaScript the button does the same. */
(function () {
  "use strict";
  var DELAY_MS = 400;

  function toggle(element, visible) {
    if (element) {
      element.classList.toggle("d-none", !visible);
    }
  }

  function confirmAnswer(form) {
    if (form.dataset.sending) {
      return;
    }
    form.dataset.sending = "1";
    var box = form.closest("[data-confirm]");
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json" },
    })
      .then(function (response) {
        return response.json();
      })
      .then(function (result) {
        if (result.saved) {
          toggle(box.querySelector("[data-confirm-saved]"), true);
          form.remove();
        } else {
          toggle(box.querySelector("[data-confirm-refused]"), true);
          delete form.dataset.sending;
        }
      })
      .catch(function () {
        delete form.dataset.sending; // the visible button still works
      });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.querySelector("form[data-auto-confirm]");
    if (form) {
      window.setTimeout(function () {
        confirmAnswer(form);
      }, DELAY_MS);
    }
  });
})();
