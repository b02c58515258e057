/**
 * A weak `ADMIN_API_KEY` outside development fails every request closed (a Worker has no start hook to refuse to
 * boot): 503 `admin_key_too_weak` and one log line per isolate. Development keeps working with a short key.
 */
import { afterEach, describe, expect, it, vi } from "vitest";

import { adminKeyWeakness, MIN_ADMIN_API_KEY_CHARS } from "../../src/auth/admin-key-policy.ts";
import { adminKey, callWith } from "../helpers/api.ts";
import { expectProblem } from "./snapshot.ts";

const SHORT = "prod-admin-key-0123456789abcdef"; // 31 characters: the attack pass's 1,500 guesses were at such a key
const STRONG = "Qk3v9Zr_7bT2xLm8NpW4sY6dF1gH5jK0cV-eR2tU9iO"; // 43 characters, as `openssl rand -base64 32` gives

afterEach(() => vi.restoreAllMocks());

describe("a weak ADMIN_API_KEY outside development", () => {
  it("fails every request with 503 admin_key_too_weak, logged once", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: unknown) => void lines.push(String(line)));
    for (const [path, init] of [
      ["/healthz", {}],
      ["/v1/admin/breakers", { key: SHORT }],
      ["/v1/transcriptions", {}],
    ] as const) {
      const res = await callWith({ ENVIRONMENT: "production", ADMIN_API_KEY: SHORT }, path, init);
      const problem = await expectProblem(res, 503, "admin_key_too_weak");
      expect(JSON.stringify(problem)).not.toContain(SHORT);
    }
    const warnings = lines.filter((l) => l.includes('"insecure_configuration"'));
    expect(warnings).toHaveLength(1);
    expect(JSON.parse(warnings[0]!)).toMatchObject({ setting: "ADMIN_API_KEY" });
    expect(warnings[0]).not.toContain(SHORT);
  });

  it("a strong key, or none at all, serves requests", async () => {
    expect((await callWith({ ENVIRONMENT: "production", ADMIN_API_KEY: STRONG }, "/healthz")).status).toBe(200);
    expect(
      (await callWith({ ENVIRONMENT: "production", ADMIN_API_KEY: STRONG }, "/v1/admin/breakers", { key: STRONG }))
        .status,
    ).toBe(200);
    expect((await callWith({ ENVIRONMENT: "production", ADMIN_API_KEY: undefined }, "/healthz")).status).toBe(200);
  });

  it("development and tests accept a short key (the local .dev.vars one)", async () => {
    expect(
      (await callWith({ ENVIRONMENT: "development", ADMIN_API_KEY: SHORT }, "http://127.0.0.1:8787/healthz")).status,
    ).toBe(200);
    expect(adminKey().length).toBeGreaterThanOrEqual(MIN_ADMIN_API_KEY_CHARS);
  });
});

describe("adminKeyWeakness", () => {
  it.each([
    [SHORT, "shorter"],
    ["a".repeat(64), "distinct"],
    ["01".repeat(32), "distinct"],
    [STRONG, null],
    ["9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", null], // 32 bytes as hex
    [undefined, null],
  ])("%s → %s", (key, problem) => {
    const weakness = adminKeyWeakness(key);
    if (problem === null) expect(weakness).toBeNull();
    else expect(weakness).toContain(problem);
  });
});
