// Live progress of the sends on the dashboard, from the JSON the campaign page polls too.
(function () {
  function poll(box) {
    fetch(box.dataset.progressUrl, {credentials: "same-origin"}).then(function (r) { return r.json(); }).then(function (data) {
      box.querySelector("progress").value = data.percent;
      box.querySelectorAll("[data-field]").forEach(function (el) {
        var value = data[el.dataset.field];
        el.textContent = value === null || value === undefined ? "–" : value;
      });
      box.querySelector(".kanal-note").classList.toggle("hidden", !data.hold_reason && !data.stalled);
      if (!data.finished) { setTimeout(function () { poll(box); }, 2000); }
    }).catch(function () { setTimeout(function () { poll(box); }, 5000); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("[data-progress-url]").forEach(function (box) {
      if (box.dataset.finished !== "1") { poll(box); }
    });
  });
})();
