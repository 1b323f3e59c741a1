// Draw a QR code on a canvas with the vendored uqr encoder: error correction M, four-module quiet
// zone, black on white. base45 text is encoded in QR alphanumeric mode automatically.
//
// Every module is a whole number of device pixels (scanners read crisp, even modules best), as
// large as the room the page's CSS gives the canvas.

import { encode } from "/static/vendor/uqr/index.js";

export function drawQr(canvas, text) {
  const qr = encode(text, { ecc: "M", border: 4 });
  const n = qr.size;
  const ratio = window.devicePixelRatio || 1;
  canvas.style.width = "";
  const room = canvas.getBoundingClientRect().width || 300;
  const scale = Math.max(1, Math.floor((room * ratio) / n));
  canvas.width = n * scale;
  canvas.height = n * scale;
  canvas.style.width = `${(n * scale) / ratio}px`;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#000000";
  for (let y = 0; y < n; y++) {
    const row = qr.data[y];
    for (let x = 0; x < n; x++) if (row[x]) ctx.fillRect(x * scale, y * scale, scale, scale);
  }
  return { version: qr.version, modules: n };
}
