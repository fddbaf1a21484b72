// accesswatch console: pages work without this script (links and forms are plain HTML). It only confirms
// decisions before they are sent, so that a stray Enter does not close a case.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form && form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
    event.preventDefault();
  }
});
