// The API reference at /docs: Swagger UI from this server's own copy (static/vendor/swagger-ui/),
// reading /openapi.json. Nothing is loaded from a CDN: /docs shares its origin with the pages that
// keep citizen tokens, so a script from elsewhere here could read them.
/* global SwaggerUIBundle */
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false, // a token typed here is not written to localStorage
});
