// The template editor's email frame: after each live preview, the editor's content is posted to
// the frame endpoint with the frame as the form's target, so the rendered email shows in a
// sandboxed document with its own inline styles (the console's own CSP forbids them).
//
// One post at a time: a preview that swaps while the frame still loads the previous post only
// marks the frame stale, and the editor's content as it is then is posted once that load ends.
// Two posts in a row (a queued preview right after a slow first one) started a navigation of the
// sandboxed frame while the previous one was committing, and the frame could end up showing no
// document at all until the next edit.
(function () {
  "use strict";

  var LOAD_WAIT_MS = 15000; // a load that never ends (a dropped connection) must not stop updates
  var loading = 0; // the number of the post the frame is loading; 0 when none is
  var posts = 0;
  var stale = false;

  function submitTo(frame, editor) {
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

  function loaded(number) {
    if (loading !== number) { return; }
    loading = 0;
    if (stale) { reloadFrame(); }
  }

  function reloadFrame() {
    var frame = document.getElementById("template-frame");
    var editor = frame && frame.closest("form");
    if (!editor) { return; }
    if (loading) { stale = true; return; }
    stale = false;
    var number = ++posts;
    loading = number;
    frame.addEventListener("load", function () { loaded(number); }, { once: true });
    setTimeout(function () { loaded(number); }, LOAD_WAIT_MS);
    submitTo(frame, editor);
  }

  document.addEventListener("htmx:afterSwap", function (event) {
    if (event.target.id === "template-preview") { reloadFrame(); }
  });
})();
