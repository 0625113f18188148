// The confirmation page of an order whose payment is not decided yet (Klarna's review can take hours):
// ask the server politely, backing off from 3 seconds to 5 minutes, say in a live region when it last
// checked, and reload once the order is decided. Never a meta refresh: that moves focus and screen
// readers on a timer the shopper did not choose.
(function () {
  "use strict";
  var region = document.getElementById("order-wait");
  if (!region || !window.fetch) { return; }
  var url = region.getAttribute("data-status-url");
  var delay = 3000;
  var MAX = 300000;

  function say(text) { region.textContent = text; }

  function check() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
      .then(function (data) {
        if (data.status !== "pending") {
          say("Your payment was decided. Showing the result…");
          window.location.reload();
          return;
        }
        var at = new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
        say("Still waiting. Last checked at " + at + "; this page checks again by itself.");
        schedule();
      })
      .catch(function () {
        say("Could not check just now; trying again shortly.");
        schedule();
      });
  }

  function schedule() {
    window.setTimeout(check, delay);
    delay = Math.min(delay * 2, MAX);
  }

  schedule();
}());
