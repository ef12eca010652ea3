// ADSBIN dashboard: the little script the pages need, and no more. No inline script anywhere
// (the CSP forbids it): behaviour hangs on data- attributes.
(function () {
  "use strict";

  // <button data-confirm="Really?">: ask before a form that cannot be undone is sent
  document.addEventListener("submit", function (event) {
    var button = event.submitter;
    var message = (button && button.dataset.confirm) || event.target.dataset.confirm;
    if (message && !window.confirm(message)) { event.preventDefault(); }
  });

  // <form data-upload>: send the file with a progress bar, then follow the page's answer
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-upload]") || event.defaultPrevented) { return; }
    event.preventDefault();
    var bar = form.querySelector("progress");
    var status = form.querySelector("[data-upload-status]");
    var button = form.querySelector("button[type=submit]");
    var request = new XMLHttpRequest();
    request.open(form.method, form.action);
    request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    request.upload.addEventListener("progress", function (e) {
      if (!e.lengthComputable) { return; }
      if (bar) { bar.max = e.total; bar.value = e.loaded; bar.hidden = false; }
      if (status) { status.textContent = "Uploading… " + Math.round(100 * e.loaded / e.total) + " %"; }
    });
    request.addEventListener("load", function () {
      if (request.status < 400 && request.responseURL) {
        window.location.assign(request.responseURL);
        return;
      }
      document.open(); document.write(request.responseText); document.close();
    });
    request.addEventListener("error", function () {
      if (status) { status.textContent = "The upload failed: check your connection and try again."; }
      if (button) { button.disabled = false; }
    });
    if (button) { button.disabled = true; }
    request.send(new FormData(form));
  });

  // <button data-push-enable data-key="VAPID public key">: subscribe this browser to Web Push
  function urlBase64ToUint8Array(base64) {
    var padding = "=".repeat((4 - base64.length % 4) % 4);
    var raw = window.atob((base64 + padding).replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(raw, function (c) { return c.charCodeAt(0); });
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-push-enable]");
    if (!button) { return; }
    var status = document.querySelector("[data-push-status]");
    function say(text) { if (status) { status.textContent = text; } }
    if (!("serviceWorker" in navigator) || !("PushManager" in window)) {
      say("This browser cannot receive push notifications."); return;
    }
    navigator.serviceWorker.register("/sw.js").then(function (registration) {
      return registration.pushManager.subscribe({
        userVisibleOnly: true, applicationServerKey: urlBase64ToUint8Array(button.dataset.key)});
    }).then(function (subscription) {
      var csrf = document.body.getAttribute("hx-headers");
      return fetch("/account/push", {method: "POST", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRF-Token": JSON.parse(csrf)["X-CSRF-Token"]},
        body: JSON.stringify(subscription)});
    }).then(function (response) {
      say(response.ok ? "Push notifications are on for this browser." : "The server refused the subscription.");
    }).catch(function (error) { say("Push could not be turned on: " + error.message); });
  });
})();
