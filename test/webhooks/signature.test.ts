import { Webhook, WebhookVerificationError } from "standardwebhooks";
import { describe, expect, it } from "vitest";

import {
  decodeWebhookSecret,
  generateWebhookSecret,
  isValidWebhookSecret,
  newWebhookEventId,
  signWebhook,
  WEBHOOK_SECRET_PREFIX,
} from "../../src/webhooks/signature.ts";

const BODY = JSON.stringify({ type: "transcription.completed", data: { id: "tr_01JD0000000000000000000000" } });
const nowSeconds = () => Math.floor(Date.now() / 1000);

// The spec's worked example (standard-webhooks spec and its reference libraries' tests).
const SPEC_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SPEC_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SPEC_TIMESTAMP = 1614265330;
const SPEC_BODY = '{"test": 2432232314}';
const SPEC_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

describe("generateWebhookSecret", () => {
  it("is whsec_ + base64 of 32 random bytes, different every time", () => {
    const secrets = new Set(Array.from({ length: 20 }, generateWebhookSecret));
    expect(secrets.size).toBe(20);
    for (const secret of secrets) {
      expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
      expect(decodeWebhookSecret(secret)).toHaveLength(32);
    }
  });
});

describe("newWebhookEventId", () => {
  it("is msg_ + a 26-character ULID, time-ordered", () => {
    const earlier = newWebhookEventId(1_700_000_000_000);
    const later = newWebhookEventId(1_700_000_000_001);
    expect(earlier).toMatch(/^msg_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(earlier < later).toBe(true);
    expect(newWebhookEventId()).not.toBe(newWebhookEventId());
  });
});

describe("signWebhook", () => {
  it("reproduces the spec's reference signature", async () => {
    const headers = await signWebhook({
      id: SPEC_ID,
      timestamp: SPEC_TIMESTAMP,
      body: SPEC_BODY,
      secrets: [SPEC_SECRET],
    });
    expect(headers).toEqual({
      "webhook-id": SPEC_ID,
      "webhook-timestamp": String(SPEC_TIMESTAMP),
      "webhook-signature": SPEC_SIGNATURE,
    });
  });

  it("produces headers the standardwebhooks receiver library accepts", async () => {
    const secret = generateWebhookSecret();
    const headers = await signWebhook({
      id: newWebhookEventId(),
      timestamp: nowSeconds(),
      body: BODY,
      secrets: [secret],
    });
    expect(new Webhook(secret).verify(BODY, { ...headers })).toEqual(JSON.parse(BODY));
  });

  it("signs with every secret during rotation, and a receiver with either secret verifies", async () => {
    const current = generateWebhookSecret();
    const previous = generateWebhookSecret();
    const headers = await signWebhook({
      id: newWebhookEventId(),
      timestamp: nowSeconds(),
      body: BODY,
      secrets: [current, previous],
    });
    const parts = headers["webhook-signature"].split(" ");
    expect(parts).toHaveLength(2);
    for (const part of parts) expect(part).toMatch(/^v1,[A-Za-z0-9+/]{43}=$/);
    expect(new Webhook(current).verify(BODY, { ...headers })).toEqual(JSON.parse(BODY));
    expect(new Webhook(previous).verify(BODY, { ...headers })).toEqual(JSON.parse(BODY));
  });

  it("signs the exact bytes: a Uint8Array body gives the same signature as its UTF-8 string", async () => {
    const body = '{"text":"ça va — 你好"}';
    const input = { id: "msg_1", timestamp: 1_700_000_000, secrets: [SPEC_SECRET] };
    const fromString = await signWebhook({ ...input, body });
    const fromBytes = await signWebhook({ ...input, body: new TextEncoder().encode(body) });
    expect(fromBytes).toEqual(fromString);
  });

  it("the receiver rejects a tampered body, a wrong secret, a stale or future timestamp and a changed id", async () => {
    const secret = generateWebhookSecret();
    const id = newWebhookEventId();
    const fresh = await signWebhook({ id, timestamp: nowSeconds(), body: BODY, secrets: [secret] });
    const receiver = new Webhook(secret);

    expect(() => receiver.verify(BODY.replace("completed", "failed"), { ...fresh })).toThrow(WebhookVerificationError);
    expect(() => new Webhook(generateWebhookSecret()).verify(BODY, { ...fresh })).toThrow(
      "No matching signature found",
    );
    expect(() => receiver.verify(BODY, { ...fresh, "webhook-id": `${id}x` })).toThrow("No matching signature found");

    // the library tolerates 5 minutes each way
    const stale = await signWebhook({ id, timestamp: nowSeconds() - 600, body: BODY, secrets: [secret] });
    expect(() => receiver.verify(BODY, { ...stale })).toThrow("Message timestamp too old");
    const future = await signWebhook({ id, timestamp: nowSeconds() + 600, body: BODY, secrets: [secret] });
    expect(() => receiver.verify(BODY, { ...future })).toThrow("Message timestamp too new");
    // a valid signature moved onto another timestamp no longer matches
    const replayed = { ...fresh, "webhook-timestamp": String(nowSeconds() - 1) };
    if (replayed["webhook-timestamp"] !== fresh["webhook-timestamp"]) {
      expect(() => receiver.verify(BODY, replayed)).toThrow("No matching signature found");
    }
  });

  it.each([
    [{ secrets: [] }, /at least one webhook secret/],
    [{ secrets: ["MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"] }, /must start with whsec_/],
    [{ secrets: ["whsec_not base64!"] }, /not valid padded base64/],
    [{ secrets: ["whsec_c2hvcnQ="] }, /24–64 bytes, got 5/],
    [{ secrets: [`whsec_${btoa("x".repeat(65))}`] }, /24–64 bytes, got 65/],
    [{ id: "msg.1" }, /without '\.'/],
    [{ id: "msg 1" }, /without '\.'/],
    [{ id: "" }, /webhook id/],
    [{ timestamp: 1.5 }, /integer number of seconds/],
    [{ timestamp: -1 }, /integer number of seconds/],
  ])("refuses bad input %o", async (override, message) => {
    const input = { id: "msg_1", timestamp: 1_700_000_000, body: BODY, secrets: [SPEC_SECRET], ...override };
    await expect(signWebhook(input)).rejects.toThrow(message);
  });
});

describe("isValidWebhookSecret", () => {
  it.each([
    [SPEC_SECRET, true],
    [`${WEBHOOK_SECRET_PREFIX}${btoa("k".repeat(24))}`, true],
    [`${WEBHOOK_SECRET_PREFIX}${btoa("k".repeat(64))}`, true],
    [`${WEBHOOK_SECRET_PREFIX}${btoa("k".repeat(23))}`, false],
    [`${WEBHOOK_SECRET_PREFIX}`, false],
    ["whsk_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", false],
    [`${WEBHOOK_SECRET_PREFIX}${btoa("k".repeat(32)).replace(/=+$/, "")}`, false],
  ])("%s → %s", (secret, valid) => {
    expect(isValidWebhookSecret(secret)).toBe(valid);
  });
});
