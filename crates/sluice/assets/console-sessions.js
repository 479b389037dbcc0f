// The session page's terminal replay. The page's CSP refuses inline scripts, so the player is
// started from here, from the cast URL the page puts in `data-cast` (its own route, same origin).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  if (typeof AsciinemaPlayer === "undefined") {
    return;
  }
  document.querySelectorAll("[data-cast]").forEach(function (el) {
    var url = el.getAttribute("data-cast");
    // Only one of ours: a path on this console, never another origin.
    if (!url || url.indexOf("/console/sessions/") !== 0) {
      return;
    }
    el.textContent = "";
    // Long idle stretches are shortened so a replay does not sit on a still screen.
    AsciinemaPlayer.create(url, el, { fit: "width", idleTimeLimit: 2 });
  });
});
