/* Klarna Payments JS SDK stand-in, served by the provider emulator (not Klarna's code).
 * Same surface as https://x.klarnacdn.net/kp/lib/v1/api.js for what a shop uses:
 *   Klarna.Payments.init({client_token})
 *   Klarna.Payments.load({container, payment_method_category}, [data], callback)      -> {show_form}
 *   Klarna.Payments.authorize({payment_method_category}, [data], callback)             -> {approved, show_form, authorization_token?, finalize_required?}
 *   Klarna.Payments.reauthorize(...), finalize(...), loadPaymentReview(...), on(...)
 * authorize() opens a sandbox dialog (#klarna-approve / #klarna-decline / #klarna-close); the decision is
 * POSTed to the emulator as text/plain (a "simple" cross-origin request: no CORS preflight needed). The dialog
 * shows the amount to approve as the session holds it when the dialog opens (#klarna-amount), as Klarna's does.
 */
(function () {
  "use strict";
  var ENDPOINT = "__AUTHORIZE_URL__";
  var PINK = "#FFB3C7";
  var SUMMARY = ENDPOINT.replace(/authorize$/, "summary");
  var current = { clientToken: null, claims: null };

  function InvalidClientTokenError(message) {
    this.name = "InvalidClientTokenError";
    this.message = message;
  }
  InvalidClientTokenError.prototype = Object.create(Error.prototype);

  function decode(token) {
    var parts = String(token || "").split(".");
    if (parts.length !== 3) { throw new InvalidClientTokenError("client_token is not a JWT"); }
    try {
      var b64 = parts[1].replace(/-/g, "+").replace(/_/g, "/");
      while (b64.length % 4) { b64 += "="; }
      return JSON.parse(atob(b64));
    } catch (e) { throw new InvalidClientTokenError("client_token payload is not readable"); }
  }

  function normalise(options, data, callback) {
    if (typeof data === "function") { callback = data; data = {}; }
    return { options: options || {}, data: data || {}, callback: callback || function () {} };
  }

  function later(callback, value) { setTimeout(function () { callback(value); }, 0); }

  function element(target) {
    return typeof target === "string" ? document.querySelector(target) : target;
  }

  function load(options, data, callback) {
    var call = normalise(options, data, callback);
    var container = element(call.options.container);
    if (!current.clientToken || !container) {
      later(call.callback, { show_form: false, error: { invalid_fields: container ? [] : ["container"] } });
      return;
    }
    container.innerHTML =
      '<div id="klarna-widget" style="border:1px solid #e5e5e5;border-radius:8px;padding:12px;' +
      'font-family:sans-serif;display:flex;align-items:center;gap:10px">' +
      '<span style="background:' + PINK + ';font-weight:800;padding:2px 8px;border-radius:6px">Klarna.</span>' +
      '<span>Pay with Klarna <small style="color:#6b6b6b">(emulated sandbox)</small></span></div>';
    later(call.callback, { show_form: true });
  }

  function closeDialog() {
    var old = document.getElementById("klarna-overlay");
    if (old) { old.parentNode.removeChild(old); }
  }

  function send(body, callback) {
    var request = new XMLHttpRequest();
    request.open("POST", ENDPOINT);
    request.setRequestHeader("Content-Type", "text/plain;charset=UTF-8");
    request.onload = function () {
      var answer;
      try { answer = JSON.parse(request.responseText); } catch (e) { answer = { approved: false, show_form: false }; }
      callback(answer);
    };
    request.onerror = function () { callback({ approved: false, show_form: true, error: { invalid_fields: [] } }); };
    request.send(JSON.stringify(body));
  }

  function money(minor, currency) {
    try {
      return new Intl.NumberFormat("en", { style: "currency", currency: currency }).format(minor / 100);
    } catch (e) { return (minor / 100).toFixed(2) + " " + currency; }
  }

  // The amount the shopper is asked to approve: the session's as Klarna holds it now (not what the merchant's
  // page drew when it loaded), as Klarna's own dialog shows it.
  function showAmount(data) {
    var request = new XMLHttpRequest();
    request.open("POST", SUMMARY);
    request.setRequestHeader("Content-Type", "text/plain;charset=UTF-8");
    request.onload = function () {
      var answer = null;
      try { answer = JSON.parse(request.responseText); } catch (e) { answer = null; }
      var target = document.getElementById("klarna-amount");
      if (target && answer && typeof answer.order_amount === "number" && answer.purchase_currency) {
        target.textContent = "Total to pay: " + money(answer.order_amount, answer.purchase_currency);
      }
    };
    request.send(JSON.stringify({ client_token: current.clientToken, data: data }));
  }

  function authorize(options, data, callback) {
    var call = normalise(options, data, callback);
    if (!current.clientToken) { later(call.callback, { approved: false, show_form: false }); return; }
    closeDialog();
    var email = ((call.data.billing_address || {}).email) || "";
    var overlay = document.createElement("div");
    overlay.id = "klarna-overlay";
    overlay.setAttribute("style", "position:fixed;inset:0;background:rgba(23,18,15,.55);z-index:2147483647;" +
      "display:flex;align-items:center;justify-content:center;font-family:sans-serif");
    overlay.innerHTML =
      '<div id="klarna-dialog" role="dialog" aria-modal="true" aria-labelledby="klarna-dialog-title" ' +
      'style="background:#fff;border-radius:16px;width:min(92vw,400px);overflow:hidden;box-shadow:0 8px 32px rgba(0,0,0,.3)">' +
      '<div style="background:' + PINK + ';padding:14px 18px;display:flex;justify-content:space-between;align-items:center">' +
      '<strong style="font-size:22px">Klarna.</strong>' +
      '<button type="button" id="klarna-close" aria-label="Close" style="border:0;background:none;font-size:22px;cursor:pointer">&times;</button></div>' +
      '<div style="padding:18px">' +
      '<h2 id="klarna-dialog-title" style="font-size:18px;margin:0 0 6px">Confirm your purchase</h2>' +
      '<p style="color:#6b6b6b;font-size:14px;margin:0 0 14px">Emulated Klarna sandbox' +
      (email ? ' &middot; <span id="klarna-email"></span>' : '') + '</p>' +
      '<p id="klarna-amount" style="font-size:16px;font-weight:600;margin:0 0 14px">Total to pay: …</p>' +
      '<button type="button" id="klarna-approve" style="display:block;width:100%;border:0;border-radius:24px;' +
      'padding:12px;font-size:16px;font-weight:600;background:' + PINK + ';cursor:pointer">Approve purchase (sandbox)</button>' +
      '<button type="button" id="klarna-decline" style="display:block;width:100%;border:1px solid #17120f;' +
      'border-radius:24px;padding:12px;font-size:16px;margin-top:10px;background:#fff;cursor:pointer">Decline (sandbox)</button>' +
      '<p style="color:#6b6b6b;font-size:12px;margin:12px 0 0">Sandbox tip: an email like customer+denied@example.com is always declined.</p>' +
      '</div></div>';
    document.body.appendChild(overlay);
    if (email) { document.getElementById("klarna-email").textContent = email; }
    showAmount(call.data);
    var busy = false;
    function decide(approve) {
      if (busy) { return; }
      busy = true;
      send({ client_token: current.clientToken, approve: approve, data: call.data,
             payment_method_category: call.options.payment_method_category || "klarna" },
        function (answer) { closeDialog(); call.callback(answer); });
    }
    document.getElementById("klarna-approve").onclick = function () { decide(true); };
    document.getElementById("klarna-decline").onclick = function () { decide(false); };
    document.getElementById("klarna-close").onclick = function () {
      closeDialog();
      call.callback({ approved: false, show_form: true });  // the shopper closed the dialog: may try again
    };
  }

  var Payments = {
    init: function (options) {
      var token = (options || {}).client_token;
      current.claims = decode(token);
      current.clientToken = token;
    },
    load: load,
    authorize: authorize,
    reauthorize: authorize,
    finalize: function (options, data, callback) {
      var call = normalise(options, data, callback);
      later(call.callback, { approved: false, show_form: true });  // finalize_required is never true here
    },
    loadPaymentReview: function (options, callback) { later(callback || function () {}, { show_form: true }); },
    on: function () {},
    InvalidClientTokenError: InvalidClientTokenError
  };

  window.Klarna = window.Klarna || {};
  window.Klarna.Payments = Payments;
  if (typeof window.klarnaAsyncCallback === "function") { window.klarnaAsyncCallback(); }
})();
