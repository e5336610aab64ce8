// Chronos dashboard: live updates, times in the viewer's timezone, theme. No framework.
(function () {
  "use strict";
  const root = document.documentElement;
  const store = window.localStorage;

  // --- theme -------------------------------------------------------------------------------
  const THEMES = ["auto", "light", "dark"];
  function applyTheme(theme) {
    root.dataset.theme = theme;
    const button = document.getElementById("theme-switch");
    if (button) button.title = "Theme: " + theme + " (click to change)";
  }
  applyTheme(store.getItem("chronos.theme") || "auto");

  // --- times ---------------------------------------------------------------------------------
  // <time datetime="…Z" data-tz="Europe/Paris" data-countdown> → local (or UTC) text; hover
  // shows the schedule's timezone and UTC.
  function useUTC() { return store.getItem("chronos.tz") === "utc"; }
  function fmt(date, timeZone) {
    return new Intl.DateTimeFormat(undefined, {
      year: "numeric", month: "short", day: "2-digit", hour: "2-digit", minute: "2-digit",
      second: "2-digit", timeZone: timeZone, timeZoneName: "short",
    }).format(date);
  }
  function countdown(ms) {
    const future = ms >= 0;
    let s = Math.round(Math.abs(ms) / 1000);
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    const text = d ? d + "d " + h + "h" : h ? h + "h " + m + "m" : m ? m + "m " + s + "s" : s + "s";
    return future ? "in " + text : text + " ago";
  }
  function renderTimes(scope) {
    const utc = useUTC();
    (scope || document).querySelectorAll("time[datetime]").forEach(function (el) {
      const date = new Date(el.getAttribute("datetime"));
      if (isNaN(date)) return;
      if (el.hasAttribute("data-countdown")) {
        el.textContent = countdown(date - Date.now());
      } else {
        el.textContent = fmt(date, utc ? "UTC" : undefined);
      }
      const lines = [fmt(date, "UTC")];
      const tz = el.dataset.tz;
      if (tz && tz !== "UTC") {
        try { lines.unshift(fmt(date, tz) + " (" + tz + ")"); } catch (e) { /* unknown zone */ }
      }
      if (!utc) lines.push("your time: " + fmt(date));
      el.title = lines.join("\n");
    });
  }
  function tickCountdowns() {
    document.querySelectorAll("time[data-countdown]").forEach(function (el) {
      const date = new Date(el.getAttribute("datetime"));
      if (!isNaN(date)) el.textContent = countdown(date - Date.now());
    });
  }

  // --- live updates --------------------------------------------------------------------------
  // Server-sent events name what changed; regions listening for "live:<topic>" re-fetch. While
  // the stream is down, every region refreshes every 2 s ("poll").
  let source = null;
  function indicator(state) {
    const el = document.getElementById("live-indicator");
    if (!el) return;
    el.dataset.state = state;
    el.querySelector(".label").textContent =
      { live: "live", polling: "polling", offline: "offline", connecting: "connecting" }[state];
    el.title = state === "live" ? "Live: updates arrive as they happen"
      : "Live connection down: refreshing every 2 s";
  }
  function connect() {
    if (!document.body.dataset.live || !window.EventSource) { indicator("polling"); return; }
    source = new EventSource("/events");
    source.addEventListener("open", function () { indicator("live"); });
    source.addEventListener("hello", function () { indicator("live"); });
    source.addEventListener("error", function () {
      indicator(navigator.onLine === false ? "offline" : "polling");
    });
    ["jobs", "schedules", "workers", "monitors", "alerts"].forEach(function (topic) {
      source.addEventListener(topic, function () { htmx.trigger(document.body, "live:" + topic); });
    });
  }
  function live() { return source && source.readyState === EventSource.OPEN; }
  setInterval(function () {
    if (document.body.dataset.live && !live() && document.visibilityState === "visible") {
      htmx.trigger(document.body, "poll");
    }
  }, 2000);

  // A region holding the user's unfinished input (a checked box, a focused field, an open
  // dialog) is not refreshed under them, nor while an action sent from inside it is on its way:
  // replaced meanwhile, the action's form would be gone from the page when its answer (the
  // table, or a message for the flash area) arrives, and the answer would be lost.
  function isLiveRegion(elt) {
    return elt.classList && elt.classList.contains("live-region");
  }
  function actionInFlight(region) {
    return region.querySelector(".htmx-request") !== null;
  }
  function busy(region) {
    return region.querySelector("input[data-select]:checked, dialog[open], details[open].hold")
      || (region.contains(document.activeElement) && /INPUT|SELECT|TEXTAREA/.test(document.activeElement.tagName))
      || actionInFlight(region);
  }
  document.addEventListener("htmx:beforeRequest", function (evt) {
    const region = evt.detail.elt;
    if (isLiveRegion(region) && busy(region)) evt.preventDefault();
  });
  // A refresh already under way when the user began (opened a form, sent an action): its
  // answer is dropped, not swapped in under them (the next change brings another).
  document.addEventListener("htmx:beforeSwap", function (evt) {
    const config = evt.detail.requestConfig;
    if (!config || config.verb !== "get" || !isLiveRegion(config.elt)) return;
    if (busy(config.elt)) evt.detail.shouldSwap = false;
  });

  // --- small behaviours, by data attribute (no inline handlers: the CSP forbids them) ---------
  document.addEventListener("change", function (evt) {
    const all = evt.target.closest && evt.target.closest("input[data-select-all]");
    if (!all) return;
    all.closest("table").querySelectorAll("input[name=ids]").forEach(function (box) {
      box.checked = all.checked;
    });
  });
  document.addEventListener("click", function (evt) {
    const button = evt.target.closest && evt.target.closest("[data-copy]");
    if (!button || !navigator.clipboard) return;
    navigator.clipboard.writeText(button.dataset.copy).then(function () {
      button.classList.add("copied");
    });
  });
  // A bulk action that succeeded unchecks its rows and refreshes the regions of its topic.
  document.addEventListener("htmx:afterRequest", function (evt) {
    const button = evt.detail.elt;
    if (!button.dataset || !button.dataset.clearSelection || !evt.detail.successful) return;
    const scope = button.form || document;
    scope.querySelectorAll("input[data-select]").forEach(function (box) { box.checked = false; });
    htmx.trigger(document.body, "live:" + button.dataset.clearSelection);
  });

  // --- start ---------------------------------------------------------------------------------
  document.addEventListener("DOMContentLoaded", function () {
    renderTimes(document);
    const tz = document.getElementById("tz-switch");
    if (tz) {
      const label = function () {
        tz.textContent = useUTC() ? "UTC" : "Local time";
        tz.setAttribute("aria-pressed", useUTC() ? "true" : "false");
      };
      label();
      tz.addEventListener("click", function () {
        store.setItem("chronos.tz", useUTC() ? "local" : "utc");
        label();
        renderTimes(document);
      });
    }
    const theme = document.getElementById("theme-switch");
    if (theme) {
      applyTheme(root.dataset.theme);
      theme.addEventListener("click", function () {
        const next = THEMES[(THEMES.indexOf(root.dataset.theme) + 1) % THEMES.length];
        store.setItem("chronos.theme", next);
        applyTheme(next);
      });
    }
    connect();
    setInterval(tickCountdowns, 1000);
  });
  document.addEventListener("htmx:load", function (evt) { renderTimes(evt.detail.elt); });
  window.addEventListener("beforeunload", function () { if (source) source.close(); });
  window.chronosDashboard = { renderTimes: renderTimes };
})();
