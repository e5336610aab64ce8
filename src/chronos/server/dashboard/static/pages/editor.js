// The editor shows the fields of the chosen kind (cron, interval, once) and target (pull, push).
(function () {
  "use strict";
  function sync(form) {
    const kind = form.querySelector("input[name=kind]:checked");
    const target = form.querySelector("input[name=target]:checked");
    form.dataset.kind = kind ? kind.value : "cron";
    form.dataset.target = target ? target.value : "pull";
  }
  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("editor");
    if (!form) return;
    sync(form);
    form.addEventListener("change", function () { sync(form); });
  });
})();
