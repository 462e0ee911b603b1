/* Counts one visit of a referral link, once the sign-up page has loaded in a browser.
 *
 * Opening the link never stores anything (link previews and mail scanners open every link); this
 * script posts the form's referral token and CSRF token to the visit endpoint (referrals.urls,
 * "referrals:visit") once per page view. */
(function () {
  "use strict";
  var input = document.querySelector("form input[name=ref]");
  // The form may hold the CSRF input twice (the page's and the form helper's): take the first.
  var csrf = input && input.form && input.form.querySelector("input[name=csrfmiddlewaretoken]");
  if (!csrf) {
    return;
  }
  var token = csrf.value;
  fetch("/r/visit/", {
    method: "POST",
    body: new URLSearchParams({ ref: input.value }),
    headers: { "X-CSRFToken": token },
    credentials: "same-origin",
  }).catch(function () {});
})();
