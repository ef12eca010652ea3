// ADSBIN dashboard's service worker: shows the Web Push notifications the control plane sends
// (their payload: {title, body, link, kind}) and opens their link when one is clicked.
// Served at /sw.js (Service-Worker-Allowed: /) so that it may cover every page.
"use strict";

self.addEventListener("install", function () { self.skipWaiting(); });
self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });

function sameSite(link) {
  // only this site's pages are opened: a link elsewhere opens the dashboard instead
  try {
    var url = new URL(link, self.location.origin);
    return url.origin === self.location.origin ? url.href : "/";
  } catch (e) { return "/"; }
}

self.addEventListener("push", function (event) {
  var data = {};
  if (event.data) {
    try { data = event.data.json(); } catch (e) { data = {body: event.data.text()}; }
  }
  event.waitUntil(self.registration.showNotification(data.title || "ADSBIN", {
    body: data.body || "", tag: data.kind || undefined, icon: "/static/favicon.svg",
    data: {link: sameSite(data.link || "/account/notifications")}
  }));
});

self.addEventListener("notificationclick", function (event) {
  event.notification.close();
  var link = (event.notification.data && event.notification.data.link) || "/";
  event.waitUntil(self.clients.matchAll({type: "window", includeUncontrolled: true})
    .then(function (windows) {
      for (var i = 0; i < windows.length; i++) {
        if (windows[i].url === link && "focus" in windows[i]) { return windows[i].focus(); }
      }
      return self.clients.openWindow(link);
    }));
});
