// Progressive enhancement for the console; every page reads fine without it.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  function localTimes(root) {
    var format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });
    root.querySelectorAll("time[datetime]").forEach(function (el) {
      if (el.dataset.localised) { return; }
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) { return; }
      el.title = el.textContent;
      el.textContent = format.format(when);
      el.dataset.localised = "1";
    });
  }

  function copy(button) {
    var target = document.getElementById(button.dataset.copyTarget);
    if (!target) { return; }
    var text = target.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(target); });
    } else {
      select(target);
      done();
    }
  }

  function select(el) {
    var range = document.createRange();
    range.selectNodeContents(el);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try { document.execCommand("copy"); } catch (e) { /* the text stays selected */ }
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (button) { copy(button); }
  });

  // A select that submits on change (the account switcher) does so when an option is picked
  // with the pointer. From the keyboard, arrow keys change the value one option at a time: each
  // would submit, so a keyboard user could never get past the next option (WCAG 3.2.2). There
  // the change only shows the form's button, and Enter submits.
  var keyedSelect = null;

  document.addEventListener("pointerdown", function () { keyedSelect = null; });

  document.addEventListener("keydown", function (event) {
    var select = event.target.closest && event.target.closest("select[data-autosubmit]");
    if (!select || !select.form) { return; }
    if (event.key === "Enter") {
      event.preventDefault();
      select.form.requestSubmit();
    } else if (event.key !== "Tab") {
      keyedSelect = select;
    }
  });

  document.addEventListener("change", function (event) {
    var select = event.target.closest("select[data-autosubmit]");
    if (!select || !select.form) { return; }
    if (keyedSelect === select) {
      select.form.querySelectorAll(".js-hide").forEach(function (el) { el.classList.remove("js-hide"); });
      return;
    }
    select.form.requestSubmit();
  });

  document.addEventListener("htmx:configRequest", function (event) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) { event.detail.headers["X-CSRF-Token"] = meta.content; }
  });

  document.addEventListener("htmx:afterSwap", function (event) { localTimes(event.target); });

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    var summary = document.querySelector(".error-summary");
    if (summary) { summary.focus(); }
  });
})();
