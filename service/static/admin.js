// The admin's live parts; every page works the same without them.
// The dashboard refreshes its numbers, an import its progress, and the send page the round's.
(function () {
  "use strict";
  var numbers = document.querySelector("[data-refresh]");
  if (numbers) {
    var timer, finished = false;
    var refresh = function () {
      if (document.hidden || finished) return;  // a tab in the background asks nothing; it catches up when shown
      fetch(numbers.dataset.refresh, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) return;
          numbers.innerHTML = html;
          finished = numbers.querySelector("[data-finished]") !== null;  // an import's result
          if (finished) clearInterval(timer);
        })
        .catch(function () {});
    };
    timer = setInterval(refresh, Number(numbers.dataset.every || 10000));
    document.addEventListener("visibilitychange", refresh);
  }
  var progress = document.querySelector("[data-progress]");
  if (progress) {
    var bar = document.getElementById("progress-bar");
    var text = document.getElementById("progress-text");
    var template = document.getElementById("progress-template").innerHTML;
    var failedTemplate = document.getElementById("failed-template").innerHTML;
    var poll = function () {
      fetch(progress.dataset.progress, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (p) {
          if (p === null) return;
          bar.value = p.percent;
          bar.textContent = p.percent + " %";
          var line = template.replace("12345678", p.sent).replace("23456789", p.total).replace("34567891", p.percent);
          if (p.failed) line += " · " + failedTemplate.replace("45678912", p.failed);
          text.textContent = line;
          document.getElementById("progress-done-at").textContent = p.done_at;
          document.getElementById("progress-waiting").textContent = p.waiting;
        })
        .catch(function () {});
    };
    setInterval(poll, 1000);
  }
})();
