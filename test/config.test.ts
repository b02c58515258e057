/** Settings are parsed once, through one schema, with documented fallbacks for blank or malformed values. */
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";

import {
  audioFetchLimits,
  corsOrigins,
  DEFAULT_BACKLOG_DELAY_THRESHOLD,
  DEFAULT_MAX_UPLOAD_BYTES,
  DEFAULT_PROCESSING_DEADLINE_SECONDS,
  DEFAULT_SYNC_WAIT_SECONDS,
  isDevelopment,
  settings,
  storeYieldBytes,
  syncWaitSeconds,
} from "../src/config.ts";
import type { Env } from "../src/env.ts";

const withVars = (vars: Record<string, string>) => ({ ...env, ...vars }) as Env;

describe("settings", () => {
  it("reads numbers, lists and names, and falls back to the defaults for blank or malformed values", () => {
    const parsed = settings(
      withVars({
        MAX_UPLOAD_BYTES: "2048",
        PROCESSING_DEADLINE_SECONDS: "90.5",
        BACKLOG_DELAY_THRESHOLD: "12.5",
        BREAKER_WINDOW_SIZE: "abc",
        BREAKER_FAILURE_RATE: "0.25",
        CORS_ALLOWED_ORIGINS: " https://a.example , ,https://b.example:8443,*",
      }),
    );
    expect(parsed.MAX_UPLOAD_BYTES).toBe(2048);
    expect(parsed.PROCESSING_DEADLINE_SECONDS).toBe(90.5);
    // an integer setting given a fraction keeps its default
    expect(parsed.BACKLOG_DELAY_THRESHOLD).toBe(DEFAULT_BACKLOG_DELAY_THRESHOLD);
    expect(parsed.BREAKER_WINDOW_SIZE).toBeUndefined();
    expect(parsed.BREAKER_FAILURE_RATE).toBe(0.25);
    expect(parsed.CORS_ALLOWED_ORIGINS).toEqual(["https://a.example", "https://b.example:8443", "*"]);
    expect(corsOrigins(withVars({ CORS_ALLOWED_ORIGINS: "https://a.example,*" }))).toEqual(["https://a.example"]);

    const blank = settings(withVars({ MAX_UPLOAD_BYTES: "", PROCESSING_DEADLINE_SECONDS: "-5" }));
    expect(blank.MAX_UPLOAD_BYTES).toBe(DEFAULT_MAX_UPLOAD_BYTES);
    expect(blank.PROCESSING_DEADLINE_SECONDS).toBe(DEFAULT_PROCESSING_DEADLINE_SECONDS);
  });

  it("SYNC_WAIT_SECONDS: 300 by default, a positive number of seconds when set", () => {
    expect(DEFAULT_SYNC_WAIT_SECONDS).toBe(300);
    expect(syncWaitSeconds(withVars({}))).toBe(300);
    expect(syncWaitSeconds(withVars({ SYNC_WAIT_SECONDS: "42.5" }))).toBe(42.5);
    expect(syncWaitSeconds(withVars({ SYNC_WAIT_SECONDS: "0" }))).toBe(300);
    expect(syncWaitSeconds(withVars({ SYNC_WAIT_SECONDS: "soon" }))).toBe(300);
  });

  it("STORE_YIELD_BYTES: 1 MiB by default, 0 turns the yield off, a negative or fractional value keeps the default", () => {
    expect(storeYieldBytes(withVars({}))).toBe(1024 * 1024);
    expect(storeYieldBytes(withVars({ STORE_YIELD_BYTES: "262144" }))).toBe(262144);
    expect(storeYieldBytes(withVars({ STORE_YIELD_BYTES: "0" }))).toBe(0);
    expect(storeYieldBytes(withVars({ STORE_YIELD_BYTES: "-1" }))).toBe(1024 * 1024);
    expect(storeYieldBytes(withVars({ STORE_YIELD_BYTES: "1.5" }))).toBe(1024 * 1024);
  });

  it("audio_url fetch: the overall deadline scales with MAX_URL_AUDIO_BYTES unless set; an idle timeout beside it", () => {
    const MIB = 1024 * 1024;
    // defaults: 2 GiB → 840 s (14 min, the consumer's 15 min less one), idle 60 s
    expect(audioFetchLimits(withVars({}))).toMatchObject({
      maxBytes: 2048 * MIB,
      timeoutMs: 840_000,
      idleTimeoutMs: 60_000,
    });
    // 700 MiB at 1 MiB/s → 700 s; a small limit keeps the old 600 s floor
    expect(audioFetchLimits(withVars({ MAX_URL_AUDIO_BYTES: String(700 * MIB) })).timeoutMs).toBe(700_000);
    expect(audioFetchLimits(withVars({ MAX_URL_AUDIO_BYTES: String(100 * MIB) })).timeoutMs).toBe(600_000);
    // AUDIO_FETCH_TIMEOUT_MS, when set, is the deadline as it always was (even above the derived cap)
    expect(audioFetchLimits(withVars({ AUDIO_FETCH_TIMEOUT_MS: "1800000" })).timeoutMs).toBe(1_800_000);
    expect(audioFetchLimits(withVars({ AUDIO_FETCH_TIMEOUT_MS: "-5" })).timeoutMs).toBe(840_000);
    expect(audioFetchLimits(withVars({ AUDIO_FETCH_IDLE_TIMEOUT_MS: "5000" })).idleTimeoutMs).toBe(5000);
    expect(audioFetchLimits(withVars({ AUDIO_FETCH_IDLE_TIMEOUT_MS: "soon" })).idleTimeoutMs).toBe(60_000);
  });

  it("is parsed once per environment object", () => {
    const vars = withVars({ MAX_UPLOAD_BYTES: "4096" });
    expect(settings(vars)).toBe(settings(vars));
    expect(isDevelopment(withVars({ ENVIRONMENT: "production" }))).toBe(false);
    expect(isDevelopment(withVars({ ENVIRONMENT: "development" }))).toBe(true);
  });
});
