// The "Print or save as PDF" button on /collections/<id>/print (inline handlers are blocked by the CSP).
document.querySelectorAll("[data-print]").forEach(function (button) {
  button.addEventListener("click", function () { window.print(); });
});
