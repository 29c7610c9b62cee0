// Small progressive enhancements; every page works without them.
(function () {
  "use strict";

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text);
    }
    var area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "absolute";
    area.style.left = "-9999px";
    document.body.appendChild(area);
    area.select();
    try { document.execCommand("copy"); } finally { document.body.removeChild(area); }
    return Promise.resolve();
  }

  // The same tokens as the server's highlight_json filter: a string (a key when a colon follows),
  // a literal or a number. Built as text nodes and spans, so nothing is parsed as HTML.
  var JSON_TOKEN = /("(?:[^"\\]|\\.)*")(\s*:)?|\b(true|false|null)\b|(-?(?:\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|Infinity)|NaN)/g;

  function showJson(pre, text) {
    var fragment = document.createDocumentFragment();
    var position = 0;
    var span = function (className, token) {
      var node = document.createElement("span");
      node.className = className;
      node.textContent = token;
      fragment.appendChild(node);
    };
    text.replace(JSON_TOKEN, function (match, string, colon, literal, number, offset) {
      fragment.appendChild(document.createTextNode(text.slice(position, offset)));
      if (string !== undefined && colon !== undefined) {
        span("j-key", string);
        fragment.appendChild(document.createTextNode(colon));
      } else if (string !== undefined) {
        span("j-str", string);
      } else if (literal !== undefined) {
        span("j-lit", literal);
      } else {
        span("j-num", number);
      }
      position = offset + match.length;
      return match;
    });
    fragment.appendChild(document.createTextNode(text.slice(position)));
    pre.textContent = "";
    pre.appendChild(fragment);
  }

  // Each cell of a list gets its column's name (data-label), which the phone layout shows
  // above it; the table is then marked stacked. Without this a narrow table scrolls inside
  // its box instead.
  function stackTables(root) {
    root.querySelectorAll("table.list").forEach(function (table) {
      var names = [];
      table.querySelectorAll("thead tr:first-child > th").forEach(function (th) {
        var span = parseInt(th.getAttribute("colspan") || "1", 10);
        var name = th.getAttribute("data-label") || th.textContent.replace(/[▲▼]/g, "").trim();
        for (var i = 0; i < span; i += 1) { names.push(name); }
      });
      if (!names.length) { return; }
      table.querySelectorAll("tbody tr").forEach(function (row) {
        var column = 0;
        Array.prototype.forEach.call(row.children, function (cell) {
          if (names[column] && !cell.hasAttribute("data-label")) {
            cell.setAttribute("data-label", names[column]);
          }
          column += parseInt(cell.getAttribute("colspan") || "1", 10);
        });
      });
      table.classList.add("stacked");
    });
  }

  ready(function () {
    // Copy buttons: data-copy-target names the element whose text is copied (highlighted JSON
    // included: its spans add no text). What the button then says comes from <body data-…>,
    // where the page's language put it. One listener for the page, so that buttons a live page
    // puts in later (static/js/live.js) work too.
    var labels = document.body.dataset;
    var copyTimers = new WeakMap();
    document.addEventListener("click", function (event) {
      var button = event.target.closest && event.target.closest("[data-copy-target]");
      if (!button) { return; }
      var target = document.getElementById(button.getAttribute("data-copy-target"));
      if (!target) { return; }
      if (!button.hasAttribute("data-copy-label")) { button.setAttribute("data-copy-label", button.textContent); }
      // The button's name says what it copies (aria-label); while it says "Copied" its name
      // says so too, so a screen reader hears the outcome.
      if (!button.hasAttribute("data-copy-name") && button.hasAttribute("aria-label")) {
        button.setAttribute("data-copy-name", button.getAttribute("aria-label"));
      }
      var label = button.getAttribute("data-copy-label");
      var name = button.getAttribute("data-copy-name");
      var say = function (text) {
        button.textContent = text;
        if (name) { button.setAttribute("aria-label", text); }
        clearTimeout(copyTimers.get(button));
        copyTimers.set(button, setTimeout(function () {
          button.textContent = label;
          if (name) { button.setAttribute("aria-label", name); }
        }, 1500));
      };
      copyText(target.textContent).then(function () {
        say(labels.copiedLabel || label);
      }, function () {
        say(labels.copyFailedLabel || label);
      });
    });

    // Payload preview follows the Event and Payload format selects.
    // The samples are {format: {event slug: pretty JSON}}.
    var preview = document.querySelector("[data-preview-for]");
    var samplesNode = document.getElementById("event-samples");
    if (preview && samplesNode) {
      var samples = JSON.parse(samplesNode.textContent);
      var eventSelect = document.getElementById(preview.getAttribute("data-preview-for"));
      var formatSelect = document.getElementById(preview.getAttribute("data-preview-format"));
      var nameNode = document.querySelector("[data-preview-name]");
      var formatNode = document.querySelector("[data-preview-format-name]");
      var selectedText = function (select) {
        var option = select.options[select.selectedIndex];
        return option ? option.text : "";
      };
      var updatePreview = function () {
        var format = formatSelect && samples[formatSelect.value] ? formatSelect.value : "standard";
        var byEvent = samples[format] || {};
        if (eventSelect && byEvent[eventSelect.value]) { showJson(preview, byEvent[eventSelect.value]); }
        if (nameNode && eventSelect) { nameNode.textContent = selectedText(eventSelect); }
        if (formatNode && formatSelect) { formatNode.textContent = selectedText(formatSelect); }
      };
      [eventSelect, formatSelect].forEach(function (select) {
        if (select) { select.addEventListener("change", updatePreview); }
      });
    }

    // "Receive more events" is hidden while the Event select says all events (they are all
    // received then).
    document.querySelectorAll("[data-more-events-of]").forEach(function (more) {
      var select = document.getElementById(more.getAttribute("data-more-events-of"));
      if (!select) { return; }
      var follow = function () { more.hidden = select.value === "*"; };
      select.addEventListener("change", follow);
      follow();
    });

    // A form that changes something is sent once: its button is disabled and busy (and says
    // data-busy-label, e.g. "Sending…", when it has one) until the next page arrives.
    // One listener for the page, so that forms a live page puts in later work the same.
    var busyButtons = [];
    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (event.defaultPrevented || (form.getAttribute("method") || "get").toLowerCase() !== "post") { return; }
      if (form.getAttribute("aria-busy") === "true") { event.preventDefault(); return; }
      var button = event.submitter || form.querySelector("button[type=submit], button:not([type])");
      form.setAttribute("aria-busy", "true");
      if (!button) { return; }
      var busyLabel = button.getAttribute("data-busy-label");
      button.setAttribute("data-idle-label", button.textContent);
      if (busyLabel) { button.textContent = busyLabel; }
      button.setAttribute("aria-busy", "true");
      busyButtons.push(button);
      // Disabled after this event, or the browser would leave the button's value out of the form.
      setTimeout(function () { button.disabled = true; }, 0);
    });
    // Back to a page kept in the browser's cache: its forms work again.
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted) { return; }
      busyButtons.forEach(function (button) {
        button.disabled = false;
        button.removeAttribute("aria-busy");
        button.textContent = button.getAttribute("data-idle-label");
        if (button.form) { button.form.removeAttribute("aria-busy"); }
      });
      busyButtons = [];
    });

    // Webhook filter of the delivery log: suggest matching webhooks as the admin types.
    // Without this the server still resolves a typed name (or offers the webhooks it matches).
    document.querySelectorAll("input[data-webhook-options]").forEach(function (input) {
      var list = input.list;
      var url = input.getAttribute("data-webhook-options");
      var timer = null;
      var asked = "";
      if (!list || !window.fetch) { return; }
      input.addEventListener("input", function () {
        clearTimeout(timer);
        var text = input.value.trim();
        if (!text || /\(#\d+\)$/.test(text) || text === asked) { return; }
        timer = setTimeout(function () {
          asked = text;
          fetch(url + "?q=" + encodeURIComponent(text), {
            credentials: "same-origin",
            headers: { Accept: "application/json" }
          }).then(function (response) {
            return response.ok ? response.json() : { webhooks: [] };
          }).then(function (data) {
            if (input.value.trim() !== text) { return; }
            list.textContent = "";
            data.webhooks.forEach(function (webhook) {
              var option = document.createElement("option");
              option.value = webhook.label;
              list.appendChild(option);
            });
          }).catch(function () { /* suggestions are optional */ });
        }, 200);
      });
    });

    // Custom headers: "Add another header" copies the last row with the next index (the form
    // reads headers-<n>-name / headers-<n>-value); without this the page offers spare rows.
    document.querySelectorAll("[data-add-header-row]").forEach(function (button) {
      var rows = button.parentNode.querySelector("[data-header-rows]");
      if (!rows || !rows.lastElementChild) { return; }
      button.hidden = false;
      button.addEventListener("click", function () {
        var last = rows.lastElementChild;
        var index = rows.children.length;
        var row = last.cloneNode(true);
        row.querySelectorAll("input, label").forEach(function (node) {
          ["id", "name", "for"].forEach(function (attribute) {
            var value = node.getAttribute(attribute);
            if (value) { node.setAttribute(attribute, value.replace(/-\d+-/, "-" + index + "-")); }
          });
          if (node.tagName === "INPUT") {
            node.value = "";
            node.removeAttribute("placeholder");
            node.classList.remove("saved-secret");
          }
        });
        rows.appendChild(row);
        row.querySelector("input").focus();
      });
    });

    // After a failed submit, the first field with an error takes the focus, so a keyboard or
    // screen-reader user lands on what to fix (the server marks it aria-invalid).
    var invalid = document.querySelector("main [aria-invalid=true]");
    if (invalid) { invalid.focus(); }

    // On a phone a list's rows stack, each cell under its column's name (CSS: table.stacked).
    stackTables(document);
    document.addEventListener("live:updated", function () { stackTables(document); });

    // "Select all" checkbox of a list.
    document.querySelectorAll("[data-select-all]").forEach(function (master) {
      var name = master.getAttribute("data-select-all");
      master.addEventListener("change", function () {
        document.querySelectorAll("input[type=checkbox][name='" + name + "']").forEach(function (box) {
          box.checked = master.checked;
        });
      });
    });
  });
})();
