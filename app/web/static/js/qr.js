// Draw a QR code on a canvas with the vendored uqr encoder: error correction M, four-module quiet
// zone, black on white. base45 text is encoded in QR alphanumeric mode automatically.

import { encode } from "/static/vendor/uqr/index.js";

export function drawQr(canvas, text, { pixels = 600 } = {}) {
  const qr = encode(text, { ecc: "M", border: 4 });
  const n = qr.size;
  const scale = Math.max(1, Math.floor(pixels / n));
  canvas.width = n * scale;
  canvas.height = n * scale;
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
