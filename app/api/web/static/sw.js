// Service worker of the citizen and staff pages: keeps the pages and their scripts so that the
// holder-bound code, and the handheld's offline decisions, work with no network at all. API calls
// (/v1/) are never cached here: the handheld keeps its signed documents in IndexedDB.

const CACHE = "suishen-pages-v2";
const SHELL = [
  "/",
  "/staff",
  "/static/reasons.json",
  "/static/js/staff.js",
  "/static/js/handheld.js",
  "/static/js/verifier/base45.js",
  "/static/js/verifier/catalogue.js",
  "/static/js/verifier/cbor.js",
  "/static/js/verifier/claims.js",
  "/static/js/verifier/code.js",
  "/static/js/verifier/cose.js",
  "/static/js/verifier/decide.js",
  "/static/js/verifier/errors.js",
  "/static/js/verifier/index.js",
  "/static/js/verifier/keys.js",
  "/static/js/verifier/replay.js",
  "/static/js/verifier/revocation.js",
  "/static/js/verifier/rules.js",
  "/static/js/verifier/signed_json.js",
  "/static/js/verifier/trust.js",
  "/static/js/verifier/valuesets.js",
  "/static/js/verifier/verify.js",
  "/static/vendor/zxing-wasm/es/reader/index.js",
  "/static/vendor/zxing-wasm/es/share.js",
  "/static/vendor/zxing-wasm/reader/zxing_reader.wasm",
  "/static/css/app.css",
  "/static/manifest.webmanifest",
  "/static/js/citizen.js",
  "/static/js/confirm.js",
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

// The offline verifier's modules (js/verifier/) are kept as the staff page first loads them.
function cacheable(url) {
  if (url.origin !== self.location.origin) return false;
  return SHELL.includes(url.pathname) || url.pathname.startsWith("/static/js/");
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
