// The Klarna Payments widget on our payment page: init with the session's client token, load the
// widget, authorize on click, then hand the authorization token to the server (which places the
// order). A decline is posted too, so the shop can offer to try again.
(function () {
  "use strict";
  var box = document.getElementById("klarna-payment");
  var form = document.getElementById("klarna-authorize-form");
  var button = document.getElementById("klarna-pay");
  var message = document.getElementById("klarna-message");
  if (!box || !window.Klarna || !window.Klarna.Payments) {
    if (message) { message.textContent = "Klarna could not be loaded. Please choose another way to pay."; }
    return;
  }
  var payments = window.Klarna.Payments;
  var category = { payment_method_category: "klarna" };
  var data = {
    billing_address: {
      email: box.dataset.email, country: box.dataset.country,
      given_name: box.dataset.givenName, family_name: box.dataset.familyName
    }
  };

  payments.init({ client_token: box.dataset.clientToken });
  payments.load(Object.assign({ container: "#klarna-container" }, category), {}, function (res) {
    if (res && res.show_form) {
      message.textContent = "";
      button.disabled = false;
    } else {
      message.textContent = "Klarna is not available for this order. Please choose another way to pay.";
    }
  });

  button.addEventListener("click", function () {
    button.disabled = true;
    payments.authorize(category, data, function (res) {
      if (res && res.approved && res.authorization_token) {
        message.textContent = "Approved. Placing your order…";
        form.elements.authorization_token.value = res.authorization_token;
        form.submit();
      } else if (res && res.show_form) {
        message.textContent = "The payment was not completed. You can try again.";
        button.disabled = false;
      } else {
        form.elements.declined.value = "1";
        form.submit();
      }
    });
  });
})();
