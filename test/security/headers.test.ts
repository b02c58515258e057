import { describe, expect, it } from "vitest";

import { call, callWith, createTenant } from "../helpers/api.ts";

describe("security headers", () => {
  it.each(["/healthz", "/v1/transcriptions", "/openapi.json", "/nope", "/docs"])(
    "%s carries HSTS, nosniff, frame-deny and a CSP",
    async (path) => {
      const res = await call(path);
      expect(res.headers.get("strict-transport-security")).toBe("max-age=31536000; includeSubDomains");
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("x-frame-options")).toBe("DENY");
      expect(res.headers.get("content-security-policy")).toContain("frame-ancestors 'none'");
    },
  );

  it("JSON responses forbid loading anything; the one HTML page allows only itself and the pinned CDN path, no inline code", async () => {
    expect((await call("/healthz")).headers.get("content-security-policy")).toMatch(/^default-src 'none'/);
    const page = await call("/docs");
    expect(page.headers.get("content-type")).toContain("text/html");
    const csp = page.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'none'");
    expect(csp).toMatch(/script-src 'self' https:\/\/cdn\.jsdelivr\.net\/npm\/swagger-ui-dist@[\d.]+\//);
    expect(csp).not.toContain("unsafe-inline");
    expect(csp).not.toContain("unsafe-eval");
    const html = await page.text();
    // no inline script or style: every <script> has a src
    expect(html.match(/<script(?![^>]*\ssrc=)[^>]*>/g)).toBeNull();
    expect(html).not.toContain("<style");
    expect(html).not.toMatch(/\son\w+=/);
  });
});

describe("CORS", () => {
  const preflight = (origin: string) => ({
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });

  it("is off unless configured: no Access-Control headers on preflights or responses", async () => {
    const pre = await call("/v1/transcriptions", preflight("https://evil.example"));
    expect(pre.headers.get("access-control-allow-origin")).toBeNull();
    const { key } = await createTenant("cors-off");
    const res = await call("/v1/transcriptions", { key, headers: { origin: "https://evil.example" } });
    expect(res.status).toBe(200);
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
  });

  it("allows exactly the configured origins", async () => {
    const configured = { CORS_ALLOWED_ORIGINS: "https://app.example, https://admin.example:8443, not a url, *" };
    const ok = await callWith(configured, "https://edge.test/v1/transcriptions", preflight("https://app.example"));
    expect(ok.status).toBeLessThan(300);
    expect(ok.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(ok.headers.get("access-control-allow-headers")).toContain("authorization");
    const other = await callWith(configured, "https://edge.test/v1/transcriptions", preflight("https://evil.example"));
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    // a wildcard in the setting is ignored rather than opening the API to every site
    const star = await callWith({ CORS_ALLOWED_ORIGINS: "*" }, "https://edge.test/healthz", {
      headers: { origin: "https://evil.example" },
    });
    expect(star.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("TLS only", () => {
  it("outside development, plain http is refused with 403 https_required before authentication", async () => {
    const res = await callWith({ ENVIRONMENT: "production" }, "http://edge.test/v1/transcriptions", {
      headers: { authorization: "Bearer vtt_live_whatever" },
    });
    expect(res.status).toBe(403);
    expect(res.headers.get("content-type")).toContain("application/problem+json");
    expect(await res.json()).toMatchObject({ code: "https_required" });
    expect(res.headers.get("content-security-policy")).toContain("default-src 'none'");
    const tls = await callWith({ ENVIRONMENT: "production" }, "https://edge.test/healthz");
    expect(tls.status).toBe(200);
  });

  it("development (npm start on http://127.0.0.1) still works over http", async () => {
    expect((await callWith({ ENVIRONMENT: "development" }, "http://127.0.0.1:8787/healthz")).status).toBe(200);
  });
});
