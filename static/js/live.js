// Live pages: a page that carries [data-live] (templates/_live.html) asks the server now and
// then whether what it shows changed (a small JSON answer: a version of the page's data), and
// when it did, fetches the page again and puts its fresh [data-live-region] parts in place of
// the old ones. Rendering stays on the server, in the page's one template; the page works the
// same without this script (a reload shows the same thing).
//
// It asks every few seconds while the page shows work under way, seldom otherwise (the server
// says when: "poll"), and not at all while the tab is hidden. It never replaces a part that
// holds the focus, a form being filled in or a form being sent: that part is updated once the
// focus leaves it. Flashed messages are outside the parts, and the refetched page leaves them
// for the next page (X-Live-Refresh).
(function () {
  "use strict";

  var STOP = {};  // an answer that ends the updates: logged out, or the thing is gone
  var RETRY_AFTER_ERROR = [5, 10, 30, 60];  // seconds, after each failure in a row

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function get(url, accept, headers) {
    var init = { credentials: "same-origin", cache: "no-store", headers: { Accept: accept } };
    Object.keys(headers || {}).forEach(function (name) { init.headers[name] = headers[name]; });
    return fetch(url, init).then(function (response) {
      // Sent to the login page (the session ended), or the delivery or webhook was deleted.
      if (response.redirected || response.status === 401 || response.status === 403 || response.status === 404) {
        throw STOP;
      }
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response;
    });
  }

  // A field whose value the admin changed, and has not sent.
  function edited(field) {
    if (field.type === "hidden" || field.disabled) { return false; }
    if (field.type === "checkbox" || field.type === "radio") { return field.checked !== field.defaultChecked; }
    if (field.tagName === "SELECT") {
      return Array.prototype.some.call(field.options, function (option) { return option.selected !== option.defaultSelected; });
    }
    return field.value !== field.defaultValue;
  }

  function inUse(region) {
    var active = document.activeElement;
    if (active && active !== document.body && region.contains(active)) { return true; }
    if (region.querySelector("[aria-busy=true]")) { return true; }
    return Array.prototype.some.call(region.querySelectorAll("input, textarea, select"), edited);
  }

  // <details> the admin opened or closed stay so: each is known by the row, article or element
  // with an id it is in, and its place there.
  function detailsKey(details, region) {
    var holder = details.parentElement;
    while (holder && holder !== region && !(holder.id || /^(TR|ARTICLE|LI)$/.test(holder.tagName))) {
      holder = holder.parentElement;
    }
    holder = holder || region;
    var link = holder.querySelector("a[href]");
    var name = holder.id || holder.getAttribute("aria-labelledby") || (link && link.getAttribute("href")) || "";
    var index = Array.prototype.indexOf.call(holder.querySelectorAll("details"), details);
    return holder.tagName + " " + name + " " + index;
  }

  function keepDetails(from, to) {
    var open = {};
    from.querySelectorAll("details").forEach(function (details) { open[detailsKey(details, from)] = details.open; });
    to.querySelectorAll("details").forEach(function (details) {
      var key = detailsKey(details, to);
      if (Object.prototype.hasOwnProperty.call(open, key)) { details.open = open[key]; }
    });
  }

  function regionsOf(root) {
    var found = {};
    root.querySelectorAll("[data-live-region]").forEach(function (region) {
      found[region.getAttribute("data-live-region")] = region;
    });
    return found;
  }

  ready(function () {
    var status = document.querySelector("[data-live]");
    if (!status || !window.fetch || !window.DOMParser) { return; }
    var versionUrl = status.getAttribute("data-live");
    var version = status.getAttribute("data-live-version");
    var poll = Number(status.getAttribute("data-live-poll")) || 0;
    var timer = null;
    var looking = false;   // a look is under way
    var stopped = false;
    var failures = 0;
    var waiting = null;    // a fetched page whose parts could not all be put in yet
    var served = {};       // each part as the server last sent it
    var initial = regionsOf(document);
    Object.keys(initial).forEach(function (name) { served[name] = initial[name].outerHTML; });

    function schedule(seconds) {
      clearTimeout(timer);
      timer = null;
      if (stopped || document.hidden || !seconds) { return; }
      timer = setTimeout(look, seconds * 1000);
    }

    function announce(text) {
      if (!text) { return; }
      status.textContent = "";
      setTimeout(function () { status.textContent = text; }, 100);
    }

    // Put the fetched page's parts in place of the page's; true when every changed part was.
    function apply(page) {
      var fresh = regionsOf(page);
      var current = regionsOf(document);
      var done = true;
      var changed = false;
      Object.keys(fresh).forEach(function (name) {
        var old = current[name];
        var html = fresh[name].outerHTML;
        if (!old || served[name] === html) { return; }
        if (inUse(old)) { done = false; return; }
        var replacement = document.importNode(fresh[name], true);
        keepDetails(old, replacement);
        old.replaceWith(replacement);
        served[name] = html;
        changed = true;
      });
      if (changed) {
        var freshStatus = page.querySelector("[data-live]");
        announce(freshStatus && freshStatus.getAttribute("data-live-message"));
        document.dispatchEvent(new CustomEvent("live:updated"));
      }
      return done;
    }

    function refresh(answer) {
      return get(window.location.href.split("#")[0], "text/html", { "X-Live-Refresh": "1" })
        .then(function (response) { return response.text(); })
        .then(function (html) {
          var page = new DOMParser().parseFromString(html, "text/html");
          var freshStatus = page.querySelector("[data-live]");
          // The version the fetched page was rendered with: newer than the answer, if anything
          // changed in between.
          version = freshStatus ? freshStatus.getAttribute("data-live-version") : answer.version;
          waiting = apply(page) ? null : page;
        });
    }

    function look() {
      timer = null;
      if (stopped || looking || document.hidden) { return; }
      looking = true;
      get(versionUrl, "application/json")
        .then(function (response) { return response.json(); })
        .then(function (answer) {
          poll = Number(answer.poll) || 0;
          if (answer.version !== version) { return refresh(answer); }
          if (waiting && apply(waiting)) { waiting = null; }
        })
        .then(function () { failures = 0; }, function (error) {
          if (error === STOP) { stopped = true; } else { failures += 1; }
        })
        .then(function () {
          looking = false;
          var wait = failures ? RETRY_AFTER_ERROR[Math.min(failures, RETRY_AFTER_ERROR.length) - 1] : poll;
          schedule(wait);
        });
    }

    // A part left alone because it was in use goes in once the focus leaves it.
    document.addEventListener("focusout", function () {
      if (!waiting) { return; }
      setTimeout(function () {
        if (waiting && apply(waiting)) { waiting = null; }
      }, 0);
    });
    document.addEventListener("visibilitychange", function () {
      if (document.hidden) { schedule(0); } else if (!looking) { look(); }
    });
    window.addEventListener("pageshow", function (event) {
      if (event.persisted && !looking) { look(); }
    });
    schedule(poll);
  });
})();
