// Activate pages: filter a long checkbox list (the IAB taxonomy) as you type.
(function () {
  "use strict";
  document.addEventListener("input", function (event) {
    var input = event.target.closest("input[data-filter-list]");
    if (!input) { return; }
    var list = document.getElementById(input.dataset.filterList);
    if (!list) { return; }
    var needle = input.value.trim().toLowerCase();
    list.querySelectorAll("[data-filter-text]").forEach(function (item) {
      var hit = !needle || item.dataset.filterText.indexOf(needle) !== -1;
      var checked = item.querySelector("input:checked");
      item.hidden = !(hit || checked);
    });
  });
})();
