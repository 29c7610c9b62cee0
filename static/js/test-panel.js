// The test panel of a webhook's page (templates/test_panel/_panel.html): switching the event
// loads its sample data; sending posts the form in the background (with its CSRF token) and
// gets the test send's id at once, then asks for its result until it arrives, so a receiver
// that hangs holds neither the page nor the server. Without this script the form posts as any
// other and the page comes back with the result.
(function () {
  "use strict";

  var POLL_MS = [250, 500, 500, 1000];  // between looks for the result; the last one repeats
  var READ_FAILURES = 5;  // looks in a row that fail before the panel gives up

  function ready(fn) {
    if (document.readyState !== "loading") { fn(); } else { document.addEventListener("DOMContentLoaded", fn); }
  }

  function asJson(response) {
    var type = response.headers.get("Content-Type") || "";
    if (response.redirected || type.indexOf("application/json") !== 0) { return null; }
    return response.json();
  }

  ready(function () {
    var panel = document.querySelector("[data-test-panel]");
    if (!panel || !window.fetch || !window.FormData) { return; }
    var form = panel.querySelector("form");
    var output = panel.querySelector("[data-test-result]");
    var button = form.querySelector("button[type=submit]");
    var select = form.elements["event"];
    var payload = form.elements["payload"];
    var samplesNode = document.getElementById("test-panel-samples");
    var samples = samplesNode ? JSON.parse(samplesNode.textContent) : {};
    var labels = panel.dataset;
    var idleLabel = button.textContent;
    var polling = null;

    function say(text, kind) {
      var line = document.createElement("p");
      line.className = kind || "";
      line.textContent = text;
      output.textContent = "";
      output.appendChild(line);
    }

    function busy(on) {
      button.disabled = on;
      button.textContent = on ? button.getAttribute("data-sending-label") : idleLabel;
      [form, button].forEach(function (node) {
        if (on) { node.setAttribute("aria-busy", "true"); } else { node.removeAttribute("aria-busy"); }
      });
    }

    // The messages of the last refused send, under their fields (as the page shows them
    // without the script).
    function clearErrors() {
      form.querySelectorAll("p.error[data-test-error]").forEach(function (node) { node.remove(); });
      form.querySelectorAll(".field.has-error").forEach(function (node) { node.classList.remove("has-error"); });
      [select, payload].forEach(function (input) {
        input.removeAttribute("aria-invalid");
        if (input.hasAttribute("data-described-by")) {
          input.setAttribute("aria-describedby", input.getAttribute("data-described-by"));
        }
      });
    }

    function showErrors(errors) {
      clearErrors();
      var first = null;
      Object.keys(errors).forEach(function (name) {
        var input = form.elements[name];
        var holder = input ? input.closest(".field") : null;
        if (!holder) { return; }
        holder.classList.add("has-error");
        input.setAttribute("aria-invalid", "true");
        if (!input.hasAttribute("data-described-by")) {
          input.setAttribute("data-described-by", input.getAttribute("aria-describedby") || "");
        }
        var described = [input.getAttribute("data-described-by")];
        errors[name].forEach(function (message, index) {
          var line = document.createElement("p");
          line.className = "error";
          line.id = input.id + "-error-js-" + index;
          line.setAttribute("data-test-error", "");
          line.textContent = message;
          holder.appendChild(line);
          described.push(line.id);
        });
        input.setAttribute("aria-describedby", described.join(" ").trim());
        first = first || input;
      });
      if (first) { first.focus(); }
    }

    function stopPolling() {
      clearTimeout(polling);
      polling = null;
    }

    function poll(url, round, failures) {
      polling = setTimeout(function () {
        fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
          .then(function (response) {
            if (!response.ok) { throw new Error("HTTP " + response.status); }
            return asJson(response);
          })
          .then(function (answer) {
            if (!answer) { throw new Error("not JSON"); }
            if (answer.state === "sending") {
              poll(url, round + 1, 0);
              return;
            }
            output.innerHTML = answer.html;  // rendered by the server, escaped there
            output.setAttribute("data-state", answer.state);
            busy(false);
            polling = null;
          })
          .catch(function () {
            if (failures + 1 >= READ_FAILURES) {
              say(labels.unreadableLabel, "error");
              busy(false);
              polling = null;
              return;
            }
            poll(url, round + 1, failures + 1);
          });
      }, POLL_MS[Math.min(round, POLL_MS.length - 1)]);
    }

    if (select && payload) {
      select.addEventListener("change", function () {
        if (Object.prototype.hasOwnProperty.call(samples, select.value)) {
          payload.value = samples[select.value];
          clearErrors();
        }
      });
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();  // static/js/app.js leaves a form whose submit is handled alone
      if (form.getAttribute("aria-busy") === "true") { return; }
      stopPolling();
      clearErrors();
      busy(true);
      say(button.getAttribute("data-sending-label"), "test-sending");
      fetch(form.action, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json" }
      }).then(function (response) {
        if (response.status === 413) { throw labels.tooLargeLabel; }
        return Promise.resolve(asJson(response)).then(function (answer) {
          if (!answer) { throw labels.errorLabel; }
          if (response.status === 422 && answer.errors) {
            output.textContent = "";
            busy(false);
            showErrors(answer.errors);
            return;
          }
          if (response.status !== 202) { throw labels.errorLabel; }
          output.setAttribute("data-state", "sending");
          poll(answer.result_url, 0, 0);
        });
      }).catch(function (problem) {
        say(typeof problem === "string" ? problem : labels.errorLabel, "error");
        busy(false);
      });
    });

    // A page that came back from a send without the script, still sending: follow it here.
    var pending = output.getAttribute("data-result-url");
    if (pending && output.getAttribute("data-state") === "sending") {
      busy(true);
      poll(pending, 0, 0);
    }
  });
})();
