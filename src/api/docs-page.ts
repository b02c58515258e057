/**
 * `/docs`: Swagger UI for the OpenAPI document, under a strict Content-Security-Policy. The page has no inline
 * script or style: the bundle comes from one pinned CDN path and the start-up code from `/docs/init.js` on this origin.
 */
import { Hono } from "hono";

import type { AppEnv } from "../app.context.ts";

const SWAGGER_UI_VERSION = "5.17.14";
const CDN = `https://cdn.jsdelivr.net/npm/swagger-ui-dist@${SWAGGER_UI_VERSION}`;

/** Every HTML page: scripts only from here and the pinned CDN path, no inline code, no framing, no forms, no base. */
export const DOCS_CSP = [
  "default-src 'none'",
  `script-src 'self' ${CDN}/`,
  `style-src ${CDN}/`,
  `img-src 'self' data: ${CDN}/`,
  "connect-src 'self'",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join("; ");

/** Everything else is JSON or text: nothing may load or frame it. */
export const API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Edge voice-to-text API</title>
<link rel="stylesheet" href="${CDN}/swagger-ui.css" crossorigin="anonymous">
</head>
<body>
<div id="swagger-ui"></div>
<script src="${CDN}/swagger-ui-bundle.js" crossorigin="anonymous"></script>
<script src="/docs/init.js"></script>
</body>
</html>
`;

const INIT = `window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui" });
});
`;

export const docs = new Hono<AppEnv>();

docs.get("/docs", (c) => {
  c.header("content-security-policy", DOCS_CSP);
  return c.html(PAGE);
});

docs.get("/docs/init.js", (c) => {
  c.header("cache-control", "public, max-age=300");
  return c.body(INIT, 200, { "content-type": "text/javascript; charset=utf-8" });
});
