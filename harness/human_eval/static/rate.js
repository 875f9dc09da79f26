// Keyboard shortcuts for the rating form.  Loaded as a static file so the page's
// Content-Security-Policy can forbid every inline script ("script-src 'self'").
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("answer-form");
  if (!form) { return; }
  var questions = Array.prototype.slice.call(form.querySelectorAll("fieldset.question"));
  var active = 0;
  function show() {
    questions.forEach(function (q, i) { q.classList.toggle("active", i === active); });
  }
  function answer(value) {
    var input = questions[active].querySelector("input[value='" + value + "']");
    input.checked = true;
    var next = questions.findIndex(function (q) { return !q.querySelector("input:checked"); });
    active = next === -1 ? active : next;
    show();
  }
  questions.forEach(function (q, i) {
    q.addEventListener("change", function () { active = i; show(); });
  });
  document.addEventListener("keydown", function (event) {
    if (event.target.tagName === "TEXTAREA" || event.target.tagName === "INPUT" && event.target.type === "text") {
      if (event.key === "Escape") { event.target.blur(); }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = event.key.toLowerCase();
    if (key === "a") { answer("A"); }
    else if (key === "b") { answer("B"); }
    else if (key === "t") { answer("tie"); }
    else if (key === "arrowdown") { active = Math.min(active + 1, questions.length - 1); show(); }
    else if (key === "arrowup") { active = Math.max(active - 1, 0); show(); }
    else if (key === "c") { document.getElementById("comment").focus(); }
    else if (key === "enter") { form.requestSubmit(); }
    else { return; }
    event.preventDefault();
  });
  show();
});
