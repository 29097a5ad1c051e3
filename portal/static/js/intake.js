/* Get help: suggestions as you type (debounced), "this solved my problem", and carrying the
   text into the ticket form. No framework, no inline script (CSP script-src 'self').
   The page works without this file: the form submits GET /?q=... and renders the same list. */
(function () {
  "use strict";
  var root = document.getElementById("intake");
  if (!root || !window.fetch) { return; }
  var DEBOUNCE_MS = 300;
  var d = root.dataset;
  var box = document.getElementById("intake-q");
  var list = document.getElementById("intake-suggestions");
  var status = document.getElementById("intake-status");
  var noneText = document.getElementById("intake-none-text");
  var noneForm = document.getElementById("intake-none");
  var done = document.getElementById("intake-done");
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";
  var timer = null, inflight = null, lastSent = null, seq = 0;

  function setStatus(text) { status.textContent = text || ""; }

  function removeEmptyNotice() {
    var old = document.getElementById("intake-empty");
    if (old) { old.parentNode.removeChild(old); }
  }

  function solvedForm(articleId) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = d.solvedUrl;
    form.className = "intake-solved";
    var token = document.createElement("input");
    token.type = "hidden"; token.name = "csrf_token"; token.value = csrf;
    var id = document.createElement("input");
    id.type = "hidden"; id.name = "article_id"; id.value = String(articleId);
    var button = document.createElement("button");
    button.type = "submit";
    button.textContent = d.msgSolved;
    form.appendChild(token); form.appendChild(id); form.appendChild(button);
    return form;
  }

  function render(items) {
    removeEmptyNotice();
    list.textContent = "";
    items.forEach(function (item) {
      var li = document.createElement("li");
      li.className = "intake-suggestion card";
      var a = document.createElement("a");
      a.className = "intake-title";
      a.href = item.url;
      a.textContent = item.title;
      var cat = document.createElement("span");
      cat.className = "badge";
      cat.textContent = item.category || "";
      var snippet = document.createElement("p");
      snippet.className = "intake-snippet";
      // Server-made HTML: escaped text with <mark> tags only (kb.search_service / search.highlight).
      snippet.innerHTML = item.snippet;
      li.appendChild(a); li.appendChild(cat); li.appendChild(snippet); li.appendChild(solvedForm(item.id));
      list.appendChild(li);
    });
    if (!items.length && lastSent) {
      var p = document.createElement("p");
      p.className = "empty"; p.id = "intake-empty"; p.textContent = d.msgEmpty;
      list.parentNode.appendChild(p);
    }
  }

  function query(text) {
    if (text === lastSent) { return; }
    lastSent = text;
    if (inflight) { inflight.abort(); }
    if (!text) { render([]); setStatus(""); return; }
    var mine = ++seq;
    inflight = window.AbortController ? new AbortController() : null;
    var url = d.suggestUrl + "?q=" + encodeURIComponent(text) + "&intake=" + encodeURIComponent(d.token);
    setStatus(d.msgSearching);
    fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin",
                signal: inflight ? inflight.signal : undefined})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (data) { if (mine === seq) { render(data.suggestions || []); setStatus(""); } })
      .catch(function (err) {
        if (err && err.name === "AbortError") { return; }
        if (mine === seq) { setStatus(d.msgError); lastSent = null; }
      });
  }

  box.addEventListener("input", function () {
    noneText.value = box.value;
    clearTimeout(timer);
    timer = setTimeout(function () { query(box.value.trim()); }, DEBOUNCE_MS);
  });

  document.getElementById("intake-form").addEventListener("submit", function (ev) {
    ev.preventDefault();
    clearTimeout(timer);
    query(box.value.trim());
  });

  noneForm.addEventListener("submit", function () { noneText.value = box.value.trim(); });

  list.addEventListener("submit", function (ev) {
    var form = ev.target;
    if (!form.classList || !form.classList.contains("intake-solved")) { return; }
    ev.preventDefault();
    var id = form.querySelector('input[name="article_id"]').value;
    var button = form.querySelector("button");
    button.disabled = true;
    fetch(form.action, {
      method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf},
      body: JSON.stringify({article_id: Number(id)})
    }).then(function (r) {
      if (!r.ok) { throw new Error(String(r.status)); }
      list.textContent = "";
      removeEmptyNotice();
      box.disabled = true;
      done.hidden = false;
      setStatus("");
    }).catch(function () { button.disabled = false; setStatus(d.msgError); });
  });
}());
