/* Attachment inputs: say at once when a file is too large or too many are chosen, and keep the
   form from sending them (a too-large request is refused whole, losing what was typed).
   The server checks everything again; the page works without this file. */
(function () {
  "use strict";
  if (window.helpdeskAttachments) { return; }  // the partial may be included more than once
  window.helpdeskAttachments = true;

  function problem(input) {
    var d = input.dataset, files = input.files || [];
    var maxBytes = parseInt(d.maxBytes, 10), maxCount = parseInt(d.maxCount, 10);
    if (maxCount && files.length > maxCount) { return d.msgTooMany; }
    for (var i = 0; i < files.length; i++) {
      if (maxBytes && files[i].size > maxBytes) { return d.msgTooLarge.replace("{name}", files[i].name); }
    }
    return "";
  }

  function check(input) {
    var msg = problem(input);
    var box = input.parentNode.querySelector("[data-attachment-error]");
    input.setCustomValidity(msg);
    if (box) { box.textContent = msg; box.hidden = !msg; }
    return !msg;
  }

  function bind() {
    var inputs = document.querySelectorAll("input[type=file][data-max-bytes]");
    Array.prototype.forEach.call(inputs, function (input) {
      input.addEventListener("change", function () { check(input); });
      if (input.form) {
        input.form.addEventListener("submit", function (ev) {
          if (!check(input)) { ev.preventDefault(); input.focus(); }
        });
      }
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", bind); } else { bind(); }
}());
