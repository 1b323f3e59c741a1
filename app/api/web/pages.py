"""Routes for the three pages, their service worker and their static files.

The pages are plain HTML with ES modules (no build step) and talk to the `/v1/` API with
`fetch`; nothing is loaded from outside this server. Every page is sent with a strict
Content-Security-Policy: scripts and styles from this origin only, WebAssembly allowed for
the QR decoder, and no framing.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

from verifier.reasons import REASONS_FILE

STATIC = Path(__file__).resolve().parent / "static"

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self' 'wasm-unsafe-eval'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "worker-src 'self'",
        "manifest-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=()",
}
STATIC_HEADERS = {"X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}
# Swagger UI sets inline styles on its elements: the docs page alone allows them (scripts stay 'self').
DOCS_HEADERS = {
    **PAGE_HEADERS,
    "Content-Security-Policy": CSP.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'"),
}
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".wasm": "application/wasm",
    ".json": "application/json",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}

router = APIRouter(include_in_schema=False)


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type=MEDIA_TYPES[".html"], headers=PAGE_HEADERS)


@router.get("/")
def citizen_page() -> FileResponse:
    """市民主页: the live Suishen code, groups and entitlements, confirmations and objections."""
    return _page("index.html")


@router.get("/enterprise")
def enterprise_page() -> FileResponse:
    """企业专属网页: the enterprise's entitlements, confirmations, code (法人随申码), payouts and objections."""
    return _page("enterprise.html")


@router.get("/staff")
def staff_page() -> FileResponse:
    """The staff handheld page: scan a code with the camera and show the decision."""
    return _page("staff.html")


@router.get("/admin")
def admin_page() -> FileResponse:
    """The admin dashboard: catalogue, matching runs, objections, usage, trust list."""
    return _page("admin.html")


@router.get("/disclosure")
def disclosure_page() -> FileResponse:
    """政策执行情况公开: counts per policy and region, small counts hidden (reads GET /v1/disclosure)."""
    return _page("disclosure.html")


@router.get("/policies")
def policies_page() -> FileResponse:
    """政策公开: every published policy in plain words, with how many it reached (reads GET /v1/policies)."""
    return _page("policies.html")


@router.get("/docs")
def api_docs() -> FileResponse:
    """The API reference (Swagger UI served from static/vendor/, never a CDN; /redoc is off)."""
    return FileResponse(STATIC / "docs.html", media_type=MEDIA_TYPES[".html"], headers=DOCS_HEADERS)


@router.get("/sw.js")
def service_worker() -> FileResponse:
    """The citizen page's service worker, served from the root so that its scope is `/`."""
    headers = {**PAGE_HEADERS, "Service-Worker-Allowed": "/"}
    return FileResponse(STATIC / "sw.js", media_type=MEDIA_TYPES[".js"], headers=headers)


@router.get("/static/reasons.json")
def reason_words() -> FileResponse:
    """Every reason code in Chinese and English: verifier/reasons.json, the words the gates show too."""
    return FileResponse(REASONS_FILE, media_type=MEDIA_TYPES[".json"], headers=STATIC_HEADERS)


@router.get("/static/{path:path}")
def static_file(path: str) -> FileResponse:
    """A file under app/api/web/static/; never one outside it."""
    target = (STATIC / path).resolve()
    licence = target.name.startswith("LICENSE")  # the vendored libraries' licences, as plain text
    known = target.suffix in MEDIA_TYPES or licence
    if not target.is_relative_to(STATIC) or not target.is_file() or not known:
        raise HTTPException(status_code=404, detail="no such file")
    media_type = MEDIA_TYPES[".txt"] if licence else MEDIA_TYPES[target.suffix]
    return FileResponse(target, media_type=media_type, headers=STATIC_HEADERS)
