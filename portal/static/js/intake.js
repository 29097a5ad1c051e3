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

  /* "N colleagues reported ...": the same markup as templates/intake/_reports.html. */
  var reportsBox = document.getElementById("intake-reports");
  var reportSeq = 0;

  function hidden(name, value) {
    var input = document.createElement("input");
    input.type = "hidden"; input.name = name; input.value = value;
    return input;
  }

  function renderReports(items, text) {
    reportsBox.textContent = "";
    items.forEach(function (item) {
      var card = document.createElement("div");
      card.className = "card intake-report" + (item.incident ? " incident" : "");
      card.setAttribute("data-testid", "intake-report");
      var p = document.createElement("p");
      p.className = "intake-report-text";
      var strong = document.createElement("strong");
      strong.textContent = item.sentence;
      p.appendChild(strong);
      card.appendChild(p);
      if (item.following) {
        var follow = document.createElement("p");
        var link = document.createElement("a");
        link.href = item.ticket_url; link.textContent = d.msgSee;
        follow.appendChild(document.createTextNode(d.msgFollowing + " "));
        follow.appendChild(link);
        card.appendChild(follow);
      } else {
        var form = document.createElement("form");
        form.method = "post"; form.action = d.joinUrl; form.className = "intake-join";
        form.appendChild(hidden("csrf_token", csrf));
        form.appendChild(hidden("root_id", String(item.root_id)));
        form.appendChild(hidden("q", text));
        var button = document.createElement("button");
        button.type = "submit"; button.className = "primary"; button.textContent = d.msgJoin;
        var hint = document.createElement("span");
        hint.className = "muted"; hint.textContent = d.msgJoinHint;
        form.appendChild(button); form.appendChild(document.createTextNode(" ")); form.appendChild(hint);
        card.appendChild(form);
      }
      reportsBox.appendChild(card);
    });
  }

  function reports(text) {
    if (!d.reportsUrl || !reportsBox) { return; }
    var mine = ++reportSeq;
    if (!text) { renderReports([], text); return; }
    fetch(d.reportsUrl + "?q=" + encodeURIComponent(text),
          {headers: {"Accept": "application/json"}, credentials: "same-origin"})
      .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
      .then(function (data) { if (mine === reportSeq) { renderReports(data.reports || [], text); } })
      .catch(function () { /* the notice is optional: articles and the ticket form still work */ });
  }

  function query(text) {
    if (text === lastSent) { return; }
    lastSent = text;
    if (inflight) { inflight.abort(); }
    reports(text);
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
