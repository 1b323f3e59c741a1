// Service worker of the citizen page: keeps the page and its scripts so that the holder-bound
// code works with no network at all. API calls (/v1/) are never cached.

const CACHE = "suishen-citizen-v1";
const SHELL = [
  "/",
  "/static/css/app.css",
  "/static/manifest.webmanifest",
  "/static/js/citizen.js",
  "/static/js/api.js",
  "/static/js/base45.js",
  "/static/js/cbor.js",
  "/static/js/holder.js",
  "/static/js/i18n.js",
  "/static/js/qr.js",
  "/static/js/store.js",
  "/static/vendor/uqr/index.js",
];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
      .then(() => self.clients.claim()),
  );
});

function cacheable(url) {
  return url.origin === self.location.origin && (url.pathname === "/" || SHELL.includes(url.pathname));
}

// Network first (so updates arrive at once), the cached copy when the network fails.
self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  if (request.method !== "GET" || !cacheable(url)) return;
  const key = url.pathname;
  event.respondWith(
    fetch(request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(key, copy));
        }
        return response;
      })
      .catch(() => caches.match(key).then((hit) => hit || Response.error())),
  );
});
