// fetch wrapper for the /v1/ API: JSON in and out, bearer token, errors as ApiError.

export class ApiError extends Error {
  constructor(status, code, detail, retryAfter) {
    super(detail || code || `HTTP ${status}`);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.retryAfter = retryAfter;
  }
}

// The phone's clock may be wrong (elderly users' phones often are); codes must carry the right time.
// Every answer's Date header tells how far off it is; beyond 10 s the pages use the server's time.
const OFFSET_KEY = "suishen.clockOffset";
const TRUST_OFFSET_S = 10;

export const clock = {
  offset: Number(localStorage.getItem(OFFSET_KEY)) || 0,
  /** Unix seconds by the server's clock as last seen (the phone's own clock when it is close enough). */
  now() {
    return Date.now() / 1000 + this.offset;
  },
  learn(dateHeader) {
    const server = Date.parse(dateHeader || "");
    if (Number.isNaN(server)) return;
    const off = server / 1000 - Date.now() / 1000;
    const next = Math.abs(off) > TRUST_OFFSET_S ? Math.round(off) : 0;
    if (next !== this.offset) {
      this.offset = next;
      localStorage.setItem(OFFSET_KEY, String(next));
    }
  },
};

/** `timeoutMs`: give up after this long (an ApiError with status 0, as when there is no network). */
export async function api(path, { method = "GET", token, body, accept = "application/json", raw = false, timeoutMs } = {}) {
  const headers = { Accept: accept };
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload;
  if (body !== undefined) {
    if (typeof body === "string") {
      payload = body;
      headers["Content-Type"] = path.includes("/policies/") && !body.trimStart().startsWith("{")
        ? "application/yaml"
        : "application/json";
    } else {
      payload = JSON.stringify(body);
      headers["Content-Type"] = "application/json";
    }
  }
  let response;
  try {
    const signal = timeoutMs ? AbortSignal.timeout(timeoutMs) : undefined;
    response = await fetch(path, { method, headers, body: payload, cache: "no-store", signal });
  } catch (err) {
    const timedOut = err && err.name === "TimeoutError";
    throw new ApiError(0, timedOut ? "timeout" : "network", String(err && err.message ? err.message : err));
  }
  clock.learn(response.headers.get("Date"));
  if (!response.ok) {
    let code = "http_" + response.status;
    let detail = "";
    try {
      const data = await response.json();
      code = data.error || code;
      detail = data.detail === undefined ? "" : typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail);
    } catch {
      /* not JSON */
    }
    throw new ApiError(response.status, code, detail, Number(response.headers.get("Retry-After")) || undefined);
  }
  if (raw) return response;
  if (response.status === 204) return null;
  const type = response.headers.get("Content-Type") || "";
  return type.includes("json") ? response.json() : response.text();
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

/** Bilingual text {zh, en} (or a plain string) in the page's current language. */
export function pick(text, lang) {
  if (text === null || text === undefined) return "";
  if (typeof text !== "object") return String(text);
  return text[lang] || text.zh || text.en || JSON.stringify(text);
}
