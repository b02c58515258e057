/** The console's sign-in, sessions, CSRF and headers, through the Worker's real fetch handler on Miniflare D1. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import { sha256Hex } from "../../src/domain/console-session.ts";
import { CRON_TASKS } from "../../src/index.ts";
import { createDb } from "../../src/storage/db.ts";
import { adminKey, BASE, call, callWith, createTenant, multipartUpload } from "../helpers/api.ts";

const ORIGIN = { origin: BASE, "sec-fetch-site": "same-origin" };
const HOSTILE = `<img src=x onerror=alert(1)></script><script>alert(2)</script>`;
/** a file name keeps no `/` (the upload keeps the last path segment) */
const HOSTILE_FILE_NAME = "<img src=x onerror=alert(3)><svg onload=alert(4)>.wav";

function form(fields: Record<string, string>): URLSearchParams {
  return new URLSearchParams(fields);
}

/** Signs in with `key`; returns the `name=value` of the session cookie. */
async function signIn(key: string): Promise<string> {
  const res = await call("/console/sign-in", {
    method: "POST",
    redirect: "manual",
    headers: ORIGIN,
    body: form({ api_key: key }),
  });
  expect(res.status).toBe(303);
  expect(res.headers.get("location")).toBe("/console");
  return res.headers.get("set-cookie")!.split(";")[0]!;
}

async function page(cookie: string, path = "/console"): Promise<Response> {
  return call(path, { headers: { cookie }, redirect: "manual" });
}

function csrfOf(html: string): string {
  return /name="csrf_token" value="([^"]+)"/.exec(html)![1]!;
}

describe("console sign-in", () => {
  it("sends visitors without a session to the sign-in page, under the console's strict headers", async () => {
    const res = await page("");
    expect(res.status).toBe(303);
    expect(res.headers.get("location")).toBe("/console/sign-in");
    const signInPage = await call("/console/sign-in");
    expect(signInPage.status).toBe(200);
    const csp = signInPage.headers.get("content-security-policy")!;
    expect(csp).toContain("default-src 'self'");
    expect(csp).toContain("script-src 'self'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).toContain("form-action 'self'");
    expect(csp).not.toMatch(/unsafe-inline|https?:/);
    expect(signInPage.headers.get("x-frame-options")).toBe("DENY");
    expect(signInPage.headers.get("referrer-policy")).toBe("no-referrer");
    expect(signInPage.headers.get("cache-control")).toBe("no-store");
    expect(await signInPage.text()).toContain('name="api_key" type="password"');
    // the API keeps its own headers
    const api = await call("/healthz");
    expect(api.headers.get("content-security-policy")).toBe(
      "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
    );
  });

  it("exchanges a tenant key for an HttpOnly, SameSite=Strict cookie that does not contain the key", async () => {
    const { key } = await createTenant("cookie-co");
    const res = await call("/console/sign-in", {
      method: "POST",
      redirect: "manual",
      headers: ORIGIN,
      body: form({ api_key: key }),
    });
    expect(res.status).toBe(303);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^vtt_console=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{43};/);
    expect(cookie).toContain("HttpOnly");
    expect(cookie).toContain("SameSite=Strict");
    expect(cookie).toContain("Path=/");
    expect(cookie).not.toContain(key);
    // D1 keeps only the hash of the session id
    const rows = await env.DB.prepare("SELECT id_hash FROM console_sessions").all<{ id_hash: string }>();
    const id = cookie.split("=")[1]!.split(".")[0]!;
    expect(rows.results.some((row) => row.id_hash === id)).toBe(false);
  });

  it("is a __Host- cookie with Secure in production", async () => {
    const { key } = await createTenant("prod-co");
    const res = await callWith({ ENVIRONMENT: "production" }, "/console/sign-in", {
      method: "POST",
      redirect: "manual",
      headers: ORIGIN,
      body: form({ api_key: key }),
    });
    expect(res.status).toBe(303);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^__Host-vtt_console=/);
    expect(cookie).toContain("Secure");
    const home = await callWith({ ENVIRONMENT: "production" }, "/console", {
      headers: { cookie: cookie.split(";")[0]! },
      redirect: "manual",
    });
    expect(home.status).toBe(200);
  });

  it("refuses unknown keys, keys without transcriptions:read, and cross-site sign-in forms", async () => {
    const unknown = await call("/console/sign-in", {
      method: "POST",
      redirect: "manual",
      headers: ORIGIN,
      body: form({ api_key: "vtt_live_nope-nope-nope-nope-nope-nope-nope-nope-nope" }),
    });
    expect(unknown.status).toBe(401);
    expect(unknown.headers.get("set-cookie")).toBeNull();
    expect(await unknown.text()).toContain("unknown, revoked or expired");

    const { key } = await createTenant("writer-only", ["transcriptions:write"]);
    const writer = await call("/console/sign-in", {
      method: "POST",
      redirect: "manual",
      headers: ORIGIN,
      body: form({ api_key: key }),
    });
    expect(writer.status).toBe(403);
    expect(await writer.text()).toContain("lacks the transcriptions:read scope");

    const { key: reader } = await createTenant("cross-site");
    const crossSiteHeaders: Record<string, string>[] = [
      { origin: "https://evil.test" },
      { "sec-fetch-site": "cross-site" },
    ];
    for (const headers of crossSiteHeaders) {
      const res = await call("/console/sign-in", {
        method: "POST",
        redirect: "manual",
        headers,
        body: form({ api_key: reader }),
      });
      expect(res.status).toBe(403);
      expect(res.headers.get("set-cookie")).toBeNull();
    }
  });

  it("accepts Chromium's same-origin form post, which sends Origin: null under Referrer-Policy: no-referrer", async () => {
    const { key } = await createTenant("null-origin");
    const res = await call("/console/sign-in", {
      method: "POST",
      redirect: "manual",
      headers: { origin: "null", "sec-fetch-site": "same-origin" },
      body: form({ api_key: key }),
    });
    expect(res.status).toBe(303);
    const noFetchMetadata = await call("/console/sign-in", {
      method: "POST",
      redirect: "manual",
      headers: { origin: "null" },
      body: form({ api_key: key }),
    });
    expect(noFetchMetadata.status).toBe(403);
  });

  it("throttles failed sign-ins with the failed-authentication throttle", async () => {
    const overrides = { AUTH_FAILURES_PER_MINUTE: "2" };
    const headers = { ...ORIGIN, "cf-connecting-ip": "203.0.113.77" };
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) {
      const res = await callWith(overrides, "/console/sign-in", {
        method: "POST",
        redirect: "manual",
        headers,
        body: form({ api_key: `vtt_live_guess-${i}-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa` }),
      });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 2)).toEqual([401, 401]);
    expect(statuses.at(-1)).toBe(429);
  });
});

describe("console pages", () => {
  it("shows a tenant only its own transcripts, with hostile values escaped", async () => {
    const mine = await createTenant(`Acme ${HOSTILE}`);
    const other = await createTenant("other-tenant");
    const upload = await multipartUpload(
      mine.key,
      { metadata: JSON.stringify({ note: HOSTILE }) },
      undefined,
      HOSTILE_FILE_NAME,
    );
    expect(upload.status).toBe(202);
    const { id } = (await upload.json()) as { id: string };
    const theirs = await multipartUpload(other.key);
    const { id: theirId } = (await theirs.json()) as { id: string };

    const res = await page(await signIn(mine.key));
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain(id);
    expect(html).not.toContain(theirId);
    expect(html).not.toContain("<img");
    // the only scripts are the console's own bundled modules
    expect(html.replace(/<script type="module" src="\/console\/assets\/[a-z-]+\.js"><\/script>/g, "")).not.toContain(
      "<script",
    );
    expect(html).not.toContain("<svg");
    expect(html).toContain("&lt;img src=x onerror=alert(1)&gt;&lt;/script&gt;&lt;script&gt;");
    expect(html).toContain("&lt;img src=x onerror=alert(3)&gt;&lt;svg onload=alert(4)&gt;.wav");
  });

  it("serves the bundled browser modules without a session, revalidated by ETag, and nothing else", async () => {
    const res = await call("/console/assets/local-time.js");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    const etag = res.headers.get("etag")!;
    expect(await res.text()).toContain("DateTimeFormat");
    const again = await call("/console/assets/local-time.js", { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    for (const name of ["nope.js", "..%2Fstyles.ts", "constructor", "__proto__"]) {
      expect((await call(`/console/assets/${name}`)).status).toBe(404);
    }
  });

  it("keeps tenant pages from the operator and operator pages from tenants", async () => {
    const { key } = await createTenant("split-tenant");
    const tenant = await signIn(key);
    const operator = await signIn(adminKey());
    expect((await page(tenant, "/console/transcripts")).status).toBe(200);
    expect((await page(tenant, "/console/operator")).status).toBe(403);
    expect((await page(operator, "/console/operator")).status).toBe(200);
    expect((await page(operator, "/console/transcripts")).status).toBe(403);
  });

  it("shows the operator the tenants", async () => {
    const { tenantId } = await createTenant("listed-tenant");
    const res = await page(await signIn(adminKey()));
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain("Operator");
    expect(html).toContain(tenantId);
    expect(html).toContain("listed-tenant");
  });
});

describe("console sessions end", () => {
  it("refuses a forged cookie", async () => {
    const { key } = await createTenant("forger");
    const cookie = await signIn(key);
    const [name, value] = cookie.split("=") as [string, string];
    const [id] = value.split(".");
    for (const forged of [`${id}.${"A".repeat(43)}`, `${"B".repeat(43)}.${value.split(".")[1]}`, "garbage"]) {
      const res = await page(`${name}=${forged}`);
      expect(res.status).toBe(303);
      expect(res.headers.get("location")).toBe("/console/sign-in");
    }
  });

  it("signs out only with the CSRF token and from this origin, and the old cookie is refused after", async () => {
    const { key } = await createTenant("leaver");
    const cookie = await signIn(key);
    const token = csrfOf(await (await page(cookie)).text());

    const noToken = await call("/console/sign-out", {
      method: "POST",
      redirect: "manual",
      headers: { ...ORIGIN, cookie },
      body: form({}),
    });
    expect(noToken.status).toBe(403);
    const wrongToken = await call("/console/sign-out", {
      method: "POST",
      redirect: "manual",
      headers: { ...ORIGIN, cookie },
      body: form({ csrf_token: "A".repeat(43) }),
    });
    expect(wrongToken.status).toBe(403);
    const crossSite = await call("/console/sign-out", {
      method: "POST",
      redirect: "manual",
      headers: { origin: "https://evil.test", "sec-fetch-site": "cross-site", cookie },
      body: form({ csrf_token: token }),
    });
    expect(crossSite.status).toBe(403);
    // a cross-site form arrives without the SameSite=Strict cookie: refused, and it clears nothing
    const cookieless = await call("/console/sign-out", {
      method: "POST",
      redirect: "manual",
      headers: { origin: "https://evil.test", "sec-fetch-site": "cross-site" },
      body: form({ csrf_token: token }),
    });
    expect(cookieless.status).toBe(403);
    expect(cookieless.headers.get("set-cookie")).toBeNull();
    expect((await page(cookie)).status).toBe(200);

    const out = await call("/console/sign-out", {
      method: "POST",
      redirect: "manual",
      headers: { ...ORIGIN, cookie },
      body: form({ csrf_token: token }),
    });
    expect(out.status).toBe(303);
    expect(out.headers.get("set-cookie")).toMatch(/^vtt_console=;/);
    const replayed = await page(cookie);
    expect(replayed.status).toBe(303);
    expect(replayed.headers.get("location")).toBe("/console/sign-in");
  });

  it("ends a tenant session when its key is revoked", async () => {
    const { tenantId, key, keyId } = await createTenant("revoker");
    const cookie = await signIn(key);
    expect((await page(cookie)).status).toBe(200);
    const revoke = await call(`/v1/admin/tenants/${tenantId}/keys/${keyId}/revoke`, {
      method: "POST",
      redirect: "manual",
      key: adminKey(),
    });
    expect(revoke.status).toBeLessThan(300);
    expect((await page(cookie)).status).toBe(303);
  });

  it("ends an operator session when ADMIN_API_KEY changes", async () => {
    const cookie = await signIn(adminKey());
    expect((await page(cookie)).status).toBe(200);
    const rotated = await callWith(
      { ADMIN_API_KEY: "rotated-admin-key-0123456789abcdefghijklmnopqrstuvwxyz" },
      "/console",
      {
        headers: { cookie },
        redirect: "manual",
      },
    );
    expect(rotated.status).toBe(303);
  });

  it("ends a session idle longer than CONSOLE_SESSION_IDLE_SECONDS", async () => {
    const { key } = await createTenant("idler");
    const cookie = await signIn(key);
    const idle = await callWith({ CONSOLE_SESSION_IDLE_SECONDS: "1" }, "/console", {
      headers: { cookie },
      redirect: "manual",
    });
    expect(idle.status).toBe(200);
    await env.DB.prepare("UPDATE console_sessions SET last_seen_at = last_seen_at - 2000").run();
    const later = await callWith({ CONSOLE_SESSION_IDLE_SECONDS: "1" }, "/console", {
      headers: { cookie },
      redirect: "manual",
    });
    expect(later.status).toBe(303);
  });

  it("are dropped by the cron once past their idle or absolute end", async () => {
    const { key } = await createTenant("swept");
    const cookie = await signIn(key);
    const live = await signIn(key);
    const hashOf = (c: string) => sha256Hex(c.split("=")[1]!.split(".")[0]!);
    const [liveHash, staleHash] = await Promise.all([hashOf(live), hashOf(cookie)]);
    await env.DB.prepare("UPDATE console_sessions SET last_seen_at = last_seen_at - 3600000 WHERE id_hash = ?")
      .bind(staleHash)
      .run();
    await CRON_TASKS.purge_console_sessions!(env, createDb(env));
    const left = await env.DB.prepare("SELECT id_hash FROM console_sessions WHERE id_hash IN (?, ?)")
      .bind(liveHash, staleHash)
      .all<{ id_hash: string }>();
    expect(left.results.map((row) => row.id_hash)).toEqual([liveHash]);
    expect((await page(live)).status).toBe(200);
    expect((await page(cookie)).status).toBe(303);
  });
});
