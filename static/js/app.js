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

  ready(function () {
    // Copy buttons: data-copy-target names the element whose text is copied.
    document.querySelectorAll("[data-copy-target]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy-target"));
        if (!target) { return; }
        var label = button.textContent;
        copyText(target.textContent).then(function () {
          button.textContent = "Copied";
        }, function () {
          button.textContent = "Copy failed";
        }).then(function () {
          setTimeout(function () { button.textContent = label; }, 1500);
        });
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
        if (eventSelect && byEvent[eventSelect.value]) { preview.textContent = byEvent[eventSelect.value]; }
        if (nameNode && eventSelect) { nameNode.textContent = selectedText(eventSelect); }
        if (formatNode && formatSelect) { formatNode.textContent = selectedText(formatSelect); }
      };
      [eventSelect, formatSelect].forEach(function (select) {
        if (select) { select.addEventListener("change", updatePreview); }
      });
    }

    // Buttons that start slow work show it and cannot be pressed twice.
    document.querySelectorAll("button[data-busy-label]").forEach(function (button) {
      button.form.addEventListener("submit", function (event) {
        if (button.disabled) { event.preventDefault(); return; }
        button.textContent = button.getAttribute("data-busy-label");
        button.setAttribute("aria-busy", "true");
        setTimeout(function () { button.disabled = true; }, 0);
      });
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
