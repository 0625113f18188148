// One-click upsells: stop double submits, then keep the status of accepted extras up to date
// by polling the order's upsell status until none is pending.
(function () {
  "use strict";
  document.querySelectorAll("form[data-one-click]").forEach(function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button");
      if (button) { button.disabled = true; button.textContent = "Adding…"; }
    });
  });

  var panel = document.getElementById("upsells");
  if (!panel || !panel.querySelector('[data-state="pending"]')) { return; }
  var url = panel.getAttribute("data-status-url");

  function money(minor, currency) {
    var symbol = currency === "EUR" ? "€\u00a0" : currency + " ";
    return symbol + (minor / 100).toFixed(2);
  }

  function describe(item) {
    if (item.state === "pending") { return "Adding it to your order…"; }
    if (item.state === "added") {
      return "Added to your order. New total: " + money(item.order_total, item.currency) + ".";
    }
    if (item.state === "cancelled") { return "This extra was cancelled, so nothing is charged for it."; }
    return "Your payment method was declined for this extra, so it was not added. " +
      "Your order itself is paid and unchanged.";
  }

  function poll() {
    fetch(url, { headers: { "Accept": "application/json" }, credentials: "same-origin" })
      .then(function (response) { return response.json(); })
      .then(function (data) {
        var pending = false;
        data.upsells.forEach(function (item) {
          var node = document.getElementById("upsell-" + item.id);
          if (!node) { return; }
          node.setAttribute("data-state", item.state);
          node.querySelector(".upsell-state").textContent = describe(item);
          pending = pending || item.state === "pending";
        });
        if (pending) { setTimeout(poll, 1500); }
      })
      .catch(function () { setTimeout(poll, 4000); });
  }
  setTimeout(poll, 1000);
})();
