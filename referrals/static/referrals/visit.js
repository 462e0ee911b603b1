/* Counts one visit of a referral link, once the sign-up page has loaded in a browser.
 *
 * Opening the link never stores anything (link previews and mail scanners open every link); this
 * script posts the form's referral token and CSRF token to the visit endpoint (referrals.urls,
 * "referrals:visit") once per page view. */
(function () {
  "use strict";
  var input = document.querySelector("form input[name=ref]");
  if (!input || !input.form || !input.form.elements.csrfmiddlewaretoken) {
    return;
  }
  var body = new FormData();
  body.append("ref", input.value);
  body.append("csrfmiddlewaretoken", input.form.elements.csrfmiddlewaretoken.value);
  fetch("/r/visit/", { method: "POST", body: body, credentials: "same-origin" }).catch(function () {});
})();
