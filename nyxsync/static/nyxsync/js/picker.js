/* The repository picker of "Link a repository": the repositories the user's GitHub connection can
   read, a page at a time, filtered by name; picking one fills the repository field, and the branch
   picker (link.js) takes it from there. Without this script (or a connection) the field is typed.

   Markup: [data-repo-picker][data-repos-url] holding input[data-picker-query], ul[data-picker-list],
   button[data-picker-prev|next], [data-picker-page], [data-picker-status]; data-state on the root:
   loading | ready | empty | error. */
(function () {
  "use strict";

  var DELAY_MS = 300;

  function start() {
    var root = document.querySelector("[data-repo-picker][data-repos-url]");
    var field = document.querySelector("form[data-branch-picker] [name=repository]");
    if (!root || !field || !window.fetch) return;
    var url = root.getAttribute("data-repos-url");
    var query = root.querySelector("[data-picker-query]");
    var list = root.querySelector("[data-picker-list]");
    var prev = root.querySelector("[data-picker-prev]");
    var next = root.querySelector("[data-picker-next]");
    var pageNote = root.querySelector("[data-picker-page]");
    var status = root.querySelector("[data-picker-status]");
    var page = 1;
    var pages = 1;
    var asked = 0;
    var timer = null;
    root.hidden = false;

    function state(name, text) {
      root.setAttribute("data-state", name);
      status.textContent = text || "";
    }

    function item(repo) {
      var li = document.createElement("li");
      var button = document.createElement("button");
      button.type = "button";
      button.className = "link";
      button.setAttribute("data-full-name", repo.full_name);
      button.textContent = repo.full_name;
      li.appendChild(button);
      if (repo.private) {
        var badge = document.createElement("span");
        badge.className = "badge private";
        badge.textContent = "private";
        li.appendChild(badge);
      }
      if (repo.description) {
        var about = document.createElement("span");
        about.className = "muted";
        about.textContent = repo.description;
        li.appendChild(about);
      }
      return li;
    }

    function load() {
      var question = ++asked;
      state("loading", "Loading your repositories…");
      fetch(url + "?q=" + encodeURIComponent(query.value.trim()) + "&page=" + page, {
        headers: { Accept: "application/json" }, credentials: "same-origin"
      })
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          if (question !== asked) return;
          list.innerHTML = "";
          if (answer.error) { state("error", answer.error); return; }
          page = answer.page;
          pages = answer.pages;
          answer.repositories.forEach(function (repo) { list.appendChild(item(repo)); });
          pageNote.textContent = "page " + page + " of " + pages + " (" + answer.total + " repositories)";
          prev.disabled = page <= 1;
          next.disabled = page >= pages;
          if (answer.total === 0) state("empty", query.value.trim() ? "None of your repositories has that in its name." : "Your GitHub account can read no repository yet.");
          else state("ready", "");
        })
        .catch(function () { if (question === asked) state("error", "Could not load your repositories; try again."); });
    }

    list.addEventListener("click", function (event) {
      var button = event.target.closest("button[data-full-name]");
      if (!button) return;
      field.value = button.getAttribute("data-full-name");
      field.dispatchEvent(new Event("change", { bubbles: true }));
      list.querySelectorAll("[aria-pressed]").forEach(function (node) { node.removeAttribute("aria-pressed"); });
      button.setAttribute("aria-pressed", "true");
    });
    query.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { page = 1; load(); }, DELAY_MS);
    });
    query.addEventListener("keydown", function (event) { if (event.key === "Enter") event.preventDefault(); });
    prev.addEventListener("click", function () { if (page > 1) { page -= 1; load(); } });
    next.addEventListener("click", function () { if (page < pages) { page += 1; load(); } });
    load();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
