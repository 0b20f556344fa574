/* nyxsync search page: "/" focuses the query box (unless typing elsewhere), Enter searches (the
   form's own submit), and while the next page is on its way the form shows that it is working. */
(function () {
  "use strict";

  function start() {
    var form = document.querySelector("[data-search-form]");
    if (!form) return;
    var box = form.querySelector("input[name=q]");
    document.addEventListener("keydown", function (event) {
      if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) return;
      var target = event.target;
      if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) return;
      event.preventDefault();
      box.focus();
      box.select();
    });
    form.addEventListener("submit", function () {
      if (!box.value.trim()) return;
      form.setAttribute("data-state", "searching");
      form.setAttribute("aria-busy", "true");
      var progress = form.querySelector("[data-search-progress]");
      if (progress) progress.hidden = false;
      var button = form.querySelector("[data-search-button]");
      // Disabled after the submit has gathered the fields (a disabled button is not sent anyway).
      if (button) setTimeout(function () { button.disabled = true; }, 0);
    });
    // Back to this page from the next one (bfcache): not searching any more.
    window.addEventListener("pageshow", function () {
      form.removeAttribute("data-state");
      form.removeAttribute("aria-busy");
      var progress = form.querySelector("[data-search-progress]");
      if (progress) progress.hidden = true;
      var button = form.querySelector("[data-search-button]");
      if (button) button.disabled = false;
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
