// The template editor's email frame: after each live preview, the editor's content is posted to
// the frame endpoint with the frame as the form's target, so the rendered email shows in a
// sandboxed document with its own inline styles (the console's own CSP forbids them).
(function () {
  "use strict";

  function reloadFrame() {
    var frame = document.getElementById("template-frame");
    var editor = frame && frame.closest("form");
    if (!editor) { return; }
    var post = document.createElement("form");
    post.method = "post";
    post.action = frame.dataset.src;
    post.target = frame.name;
    post.hidden = true;
    new FormData(editor).forEach(function (value, key) {
      if (typeof value !== "string") { return; }
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = key;
      input.value = value;
      post.appendChild(input);
    });
    document.body.appendChild(post);
    post.submit();
    post.remove();
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target.id === "template-preview") { reloadFrame(); }
  });
})();
