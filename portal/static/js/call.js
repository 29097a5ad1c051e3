/* Log a call: find the caller as the agent types and put their id into the form.
   Without this file the agent registers the caller with the contact fields instead. */
(function () {
  "use strict";
  var box = document.querySelector(".caller");
  if (!box) { return; }
  var input = document.getElementById("caller-search");
  var list = document.getElementById("caller-results");
  var chosen = document.getElementById("caller-chosen");
  var hidden = document.querySelector("input[name=caller_id]");
  var timer = null, seq = 0;

  function show(people) {
    list.textContent = "";
    people.forEach(function (p) {
      var item = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "linkish caller-pick";
      button.dataset.id = p.id;
      button.textContent = p.name + " <" + p.email + ">" + (p.phone ? " · " + p.phone : "");
      button.addEventListener("click", function () {
        hidden.value = String(p.id);
        chosen.textContent = chosen.dataset.chosen + " " + p.name + " <" + p.email + ">";
        list.textContent = "";
        input.value = "";
      });
      item.appendChild(button);
      list.appendChild(item);
    });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    var q = input.value.trim();
    if (q.length < 2) { list.textContent = ""; return; }
    timer = setTimeout(function () {
      var mine = ++seq;
      fetch(box.dataset.searchUrl + "?q=" + encodeURIComponent(q), {credentials: "same-origin"})
        .then(function (r) { return r.ok ? r.json() : {people: []}; })
        .then(function (data) { if (mine === seq) { show(data.people || []); } })
        .catch(function () { list.textContent = ""; });
    }, 200);
  });
}());
