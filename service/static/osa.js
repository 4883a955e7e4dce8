// Progressive help on the answer page; the page works the same without it.
// After a refused save the error summary takes the focus.
// A day answered "no" hides (and stops sending) its transport and meals; the
// flight fields show only while the airport pickup is chosen.
(function () {
  "use strict";
  function update(day) {
    var no = day.querySelector('.attend input[value="no"]');
    var section = day.querySelector(".if-attending");
    if (!section || !no) return;
    var off = no.checked;
    section.classList.toggle("hidden", off);
    section.querySelectorAll("input, textarea").forEach(function (input) { input.disabled = off; });
    day.querySelectorAll(".flight").forEach(function (flight) {
      var option = day.querySelector('input[type=radio][value="' + flight.dataset.option + '"]');
      var show = !off && option && option.checked;
      flight.classList.toggle("hidden", !show);
      flight.querySelectorAll("input").forEach(function (input) { input.disabled = !show; });
    });
  }
  // After a refused save, the summary of what to fix takes the focus (its links lead to each field).
  var summary = document.querySelector(".error-summary[tabindex]");
  if (summary) summary.focus();
  document.querySelectorAll("fieldset.day").forEach(function (day) {
    day.addEventListener("change", function () { update(day); });
    update(day);
  });
})();
