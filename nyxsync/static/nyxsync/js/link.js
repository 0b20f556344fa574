/* The branch picker of "Link a repository": once a repository is typed, ask the server for its
   branches and offer them, the default one selected; a refusal shows next to the field.
   Without this script the form still works in two steps (the server fills the picker). */
(function () {
  "use strict";

  var DELAY_MS = 400;

  function start() {
    var form = document.querySelector("form[data-branch-picker]");
    if (!form || !window.fetch) return;
    var input = form.querySelector("[name=repository]");
    var select = form.querySelector("select[name=branch]");
    var error = form.querySelector("[data-error-for=repository]");
    var note = form.querySelector("[data-branch-note]");
    var url = form.getAttribute("data-branches-url");
    var timer = null;
    var asked = 0; // only the answer to the latest question counts
    var lastValue = null;

    function fill(names, selected) {
      select.innerHTML = "";
      names.forEach(function (name) {
        var option = document.createElement("option");
        option.value = name;
        option.textContent = name;
        if (name === selected) option.selected = true;
        select.appendChild(option);
      });
      select.disabled = names.length === 0;
    }

    function ask() {
      var value = input.value.trim();
      if (value === lastValue) return;
      lastValue = value;
      var question = ++asked;
      if (!value) {
        fill([], null);
        error.textContent = "";
        note.textContent = "";
        return;
      }
      note.textContent = "Looking for branches…";
      form.setAttribute("data-picker-state", "loading");
      fetch(url + "?repository=" + encodeURIComponent(value), {
        headers: { Accept: "application/json" }, credentials: "same-origin"
      })
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          if (question !== asked) return;
          if (answer.error) {
            fill([], null);
            error.textContent = answer.error;
            note.textContent = "";
            form.setAttribute("data-picker-state", "error");
          } else {
            fill(answer.branches, answer["default"]);
            error.textContent = "";
            note.textContent = answer.branches.length + " branches" + (answer["default"] ? ", default " + answer["default"] : "");
            form.setAttribute("data-picker-state", "ready");
          }
        })
        .catch(function () {
          if (question !== asked) return;
          note.textContent = "";
          error.textContent = "Could not ask for the branches; try again.";
          form.setAttribute("data-picker-state", "error");
          lastValue = null;
        });
    }

    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(ask, DELAY_MS);
    });
    input.addEventListener("change", function () {
      clearTimeout(timer);
      ask();
    });
    if (input.value.trim() && select.options.length === 0) ask();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
