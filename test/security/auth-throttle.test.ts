/**
 * Failed and unauthenticated requests are throttled per client address (`CF-Connecting-IP`), with a smaller bucket
 * of its own for the operator key (src/auth/failed-auth-throttle.ts). Limits are lowered per call; each test uses its
 * own addresses so buckets do not leak between tests.
 */
import { beforeAll, describe, expect, it } from "vitest";

import { clientAddressBucket } from "../../src/auth/failed-auth-throttle.ts";
import { adminKey, callWith, createTenant } from "../helpers/api.ts";
import { expectProblem } from "./snapshot.ts";

const LIMITS = { AUTH_FAILURES_PER_MINUTE: "5", OPERATOR_AUTH_FAILURES_PER_MINUTE: "3" };
const randomKey = () =>
  `vtt_live_${crypto.randomUUID().replace(/-/g, "")}${crypto.randomUUID().replace(/-/g, "")}`.slice(0, 52);

function from(ip: string, path: string, key?: string, init: RequestInit = {}) {
  return callWith(LIMITS, path, {
    ...init,
    key,
    headers: { ...(init.headers as Record<string, string>), "cf-connecting-ip": ip },
  });
}

let tenantKey: string;
beforeAll(async () => {
  ({ key: tenantKey } = await createTenant("auth-throttle"));
});

describe("failed tenant-key authentication", () => {
  it("answers 401 up to the limit, then 429 auth_rate_limited with Retry-After, per address", async () => {
    for (let i = 0; i < 5; i++)
      await expectProblem(await from("198.51.100.10", "/v1/transcriptions", randomKey()), 401, "invalid_api_key");
    const refused = await from("198.51.100.10", "/v1/transcriptions", randomKey());
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    await expectProblem(refused, 429, "auth_rate_limited");
    // another address has its own bucket
    await expectProblem(await from("198.51.100.11", "/v1/transcriptions", randomKey()), 401, "invalid_api_key");
  });

  it("counts requests without a key too", async () => {
    for (let i = 0; i < 5; i++)
      await expectProblem(await from("198.51.100.20", "/v1/transcriptions"), 401, "unauthenticated");
    await expectProblem(await from("198.51.100.20", "/v1/transcriptions"), 429, "auth_rate_limited");
  });

  it("refuses a blocked address before the key is looked at, and leaves other addresses' valid keys alone", async () => {
    for (let i = 0; i < 6; i++) await from("198.51.100.30", "/v1/transcriptions", randomKey());
    await expectProblem(await from("198.51.100.30", "/v1/transcriptions", tenantKey), 429, "auth_rate_limited");
    expect((await from("198.51.100.31", "/v1/transcriptions", tenantKey)).status).toBe(200);
  });

  it("successful requests cost nothing from the bucket", async () => {
    for (let i = 0; i < 10; i++)
      expect((await from("198.51.100.40", "/v1/transcriptions", tenantKey)).status).toBe(200);
    await expectProblem(await from("198.51.100.40", "/v1/transcriptions", randomKey()), 401, "invalid_api_key");
  });

  it("buckets an IPv6 client by its /64, so rotating the interface id does not help", async () => {
    for (let i = 0; i < 5; i++) await from(`2001:db8:1:2::${(i + 1).toString(16)}`, "/v1/transcriptions", randomKey());
    await expectProblem(
      await from("2001:db8:1:2:ffff::9", "/v1/transcriptions", randomKey()),
      429,
      "auth_rate_limited",
    );
    await expectProblem(await from("2001:db8:1:3::1", "/v1/transcriptions", randomKey()), 401, "invalid_api_key");
  });
});

describe("the operator key has a bucket of its own", () => {
  it("admin guesses are refused after OPERATOR_AUTH_FAILURES_PER_MINUTE, separately from tenant-key failures", async () => {
    const guess = () =>
      from("203.0.113.50", "/v1/admin/tenants", `guess-${crypto.randomUUID()}`, { method: "POST", body: "{}" });
    for (let i = 0; i < 3; i++) await expectProblem(await guess(), 401, "invalid_api_key");
    await expectProblem(await guess(), 429, "auth_rate_limited");
    // the same address's tenant-key bucket is untouched
    await expectProblem(await from("203.0.113.50", "/v1/transcriptions", randomKey()), 401, "invalid_api_key");
  });

  it("a token that is not a tenant key counts as an operator guess on any route", async () => {
    for (let i = 0; i < 3; i++)
      await expectProblem(
        await from("203.0.113.60", "/v1/status", `guess-${crypto.randomUUID()}`),
        401,
        "invalid_api_key",
      );
    await expectProblem(
      await from("203.0.113.60", "/v1/status", `guess-${crypto.randomUUID()}`),
      429,
      "auth_rate_limited",
    );
  });

  it("the real operator key from another address still works", async () => {
    const res = await from("203.0.113.51", "/v1/admin/breakers", adminKey());
    expect(res.status).toBe(200);
  });
});

describe("clientAddressBucket", () => {
  it.each([
    ["198.51.100.7", "198.51.100.7"],
    ["2001:db8:abcd:12::1", "2001:db8:abcd:12::/64"],
    ["2001:0db8:0000:0012:ffff:ffff:ffff:ffff", "2001:db8:0:12::/64"],
    ["::1", "0:0:0:0::/64"],
    ["", "unknown"],
    ["not an address", "unknown"],
  ])("%s → %s", (ip, bucket) => {
    expect(clientAddressBucket(new Headers(ip ? { "cf-connecting-ip": ip } : {}))).toBe(bucket);
  });
});
