/* Ticket page: "Insert into reply" puts a Markdown link to a suggested article into the
   agent's reply box. Without this file the buttons stay hidden and the links still work. */
(function () {
  "use strict";
  var box = document.querySelector(".reply-form textarea");
  if (!box) { return; }
  document.querySelectorAll(".insert-link").forEach(function (button) {
    button.hidden = false;
    button.addEventListener("click", function () {
      var link = "[" + button.dataset.title.replace(/[\[\]]/g, "") + "](" + button.dataset.url + ")";
      var at = box.selectionStart || box.value.length;
      var before = box.value.slice(0, at), after = box.value.slice(at);
      var sep = before && !/\s$/.test(before) ? " " : "";
      box.value = before + sep + link + after;
      box.focus();
      box.selectionStart = box.selectionEnd = (before + sep + link).length;
    });
  });
}());
