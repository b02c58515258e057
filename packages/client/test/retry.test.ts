import { describe, expect, it } from "vitest";

import { exitCodeFor } from "../src/cli/exit-codes.ts";
import { VttError, WaitTimeoutError } from "../src/errors.ts";
import { parseRetryAfter } from "../src/errors.ts";
import { retryDelaySeconds } from "../src/retry.ts";
import { countingStream, isAudioUrl } from "../src/upload.ts";

const answer = (status: number, headers: Record<string, string> = {}) => new Response(null, { status, headers });

describe("Retry-After", () => {
  it("reads delta-seconds and HTTP dates", () => {
    expect(parseRetryAfter("7")).toBe(7);
    expect(parseRetryAfter(null)).toBeNull();
    expect(parseRetryAfter("soon")).toBeNull();
    const now = Date.parse("2026-12-01T12:00:00Z");
    expect(parseRetryAfter("Tue, 01 Dec 2026 12:00:30 GMT", now)).toBe(30);
  });

  it("retries 429 and 503 only when told when, within the bounds", () => {
    expect(retryDelaySeconds(answer(429, { "retry-after": "2" }), 1)).toBe(2);
    expect(retryDelaySeconds(answer(503, { "retry-after": "0" }), 1)).toBe(0);
    // no Retry-After: the refusal is final (a 503 such as encryption_not_configured does not heal by waiting)
    expect(retryDelaySeconds(answer(503), 1)).toBeNull();
    expect(retryDelaySeconds(answer(400, { "retry-after": "1" }), 1)).toBeNull();
    expect(retryDelaySeconds(answer(429, { "retry-after": "1" }), 4)).toBeNull();
    expect(retryDelaySeconds(answer(429, { "retry-after": "1" }), 4, { maxRetries: 5 })).toBe(1);
    expect(retryDelaySeconds(answer(429, { "retry-after": "3600" }), 1)).toBeNull();
  });
});

describe("exit codes", () => {
  const problem = (status: number) => new VttError(status, { type: "t", title: "x", status, code: "c" }, null);
  it("give each class of failure its own status", () => {
    expect([401, 403, 404, 409, 422, 429, 500, 503].map((s) => exitCodeFor(problem(s)))).toEqual([
      5, 5, 6, 4, 4, 7, 7, 7,
    ]);
    expect(exitCodeFor(new WaitTimeoutError("tr_1"))).toBe(8);
    expect(exitCodeFor(new TypeError("fetch failed"))).toBe(7);
    expect(exitCodeFor(new Error("bug"))).toBe(1);
  });

  it("keep the problem's code and detail", async () => {
    const res = new Response(
      JSON.stringify({ type: "t", title: "Not Found", status: 404, code: "not_found", detail: "No transcription." }),
      { status: 404, headers: { "content-type": "application/problem+json" } },
    );
    const error = await VttError.fromResponse(res);
    expect(error).toMatchObject({ status: 404, code: "not_found", detail: "No transcription." });
    expect(error.message).toBe("not_found: No transcription.");
    const plain = await VttError.fromResponse(new Response("bad gateway", { status: 502 }));
    expect(plain).toMatchObject({ code: "http_502", problem: null });
  });
});

describe("upload pieces", () => {
  it("counts bytes as they are pulled", async () => {
    const seen: number[] = [];
    const source = new Blob([new Uint8Array(5), new Uint8Array(7)]).stream();
    const counted = countingStream(source, 12, (p) => seen.push(p.sentBytes));
    const bytes = new Uint8Array(await new Response(counted).arrayBuffer());
    expect(bytes.byteLength).toBe(12);
    expect(seen.at(-1)).toBe(12);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
  });

  it("tells a URL from audio", () => {
    expect(isAudioUrl("https://media.example.com/a.wav")).toBe(true);
    expect(isAudioUrl(new URL("http://127.0.0.1/a.wav"))).toBe(true);
    expect(isAudioUrl("talk.wav")).toBe(false);
    expect(isAudioUrl(new Uint8Array(3))).toBe(false);
  });
});
