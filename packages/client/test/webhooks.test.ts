import { Webhook } from "standardwebhooks";
import { describe, expect, it } from "vitest";

import { verifyWebhook, WebhookVerificationError } from "../src/webhooks.ts";

const SECRET = "whsec_" + Buffer.from("0123456789abcdef0123456789abcdef").toString("base64");
const OLD_SECRET = "whsec_" + Buffer.from("an older secret of 32 bytes long").toString("base64");
const BODY = JSON.stringify({
  type: "transcription.completed",
  timestamp: "2026-12-01T12:00:00.000Z",
  data: { id: "tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C", object: "transcription", status: "completed" },
});
const NOW = 1_764_590_400;

/** Headers exactly as a Standard Webhooks sender (the reference library) makes them. */
function signed(body: string, secrets: string[], timestamp = NOW, id = "msg_01JD7Y7W8Q3N5X6T2R9M4K1B0C") {
  const signatures = secrets.map((secret) => new Webhook(secret).sign(id, new Date(timestamp * 1000), body));
  return { "webhook-id": id, "webhook-timestamp": String(timestamp), "webhook-signature": signatures.join(" ") };
}

async function refusal(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => null,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(WebhookVerificationError);
  return (error as WebhookVerificationError).code;
}

describe("verifyWebhook", () => {
  it("accepts what the standardwebhooks library signs and returns the event", async () => {
    const event = await verifyWebhook(BODY, signed(BODY, [SECRET]), SECRET, { nowSeconds: NOW });
    expect(event.data.id).toBe("tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C");
    expect(event.type).toBe("transcription.completed");
  });

  it("takes a Headers object, header names in any case, and the body as bytes", async () => {
    const headers = new Headers(signed(BODY, [SECRET]));
    await expect(verifyWebhook(new TextEncoder().encode(BODY), headers, SECRET, { nowSeconds: NOW })).resolves.toEqual(
      JSON.parse(BODY),
    );
    const upper = Object.fromEntries(Object.entries(signed(BODY, [SECRET])).map(([k, v]) => [k.toUpperCase(), v]));
    await expect(verifyWebhook(BODY, upper, SECRET, { nowSeconds: NOW })).resolves.toBeTruthy();
  });

  it("accepts any one matching signature of several (a secret rotation)", async () => {
    const headers = signed(BODY, [OLD_SECRET, SECRET]);
    await expect(verifyWebhook(BODY, headers, SECRET, { nowSeconds: NOW })).resolves.toBeTruthy();
    await expect(verifyWebhook(BODY, headers, OLD_SECRET, { nowSeconds: NOW })).resolves.toBeTruthy();
  });

  it("refuses a changed body, another secret, a changed id and a signature without v1", async () => {
    const headers = signed(BODY, [SECRET]);
    expect(
      await refusal(verifyWebhook(BODY.replace("completed", "failed"), headers, SECRET, { nowSeconds: NOW })),
    ).toBe("invalid_signature");
    expect(await refusal(verifyWebhook(BODY, headers, OLD_SECRET, { nowSeconds: NOW }))).toBe("invalid_signature");
    const otherId = { ...headers, "webhook-id": "msg_other" };
    expect(await refusal(verifyWebhook(BODY, otherId, SECRET, { nowSeconds: NOW }))).toBe("invalid_signature");
    const v2 = { ...headers, "webhook-signature": headers["webhook-signature"].replace("v1,", "v2,") };
    expect(await refusal(verifyWebhook(BODY, v2, SECRET, { nowSeconds: NOW }))).toBe("invalid_signature");
  });

  it("refuses deliveries older or newer than five minutes, and malformed or missing headers", async () => {
    const headers = signed(BODY, [SECRET]);
    expect(await refusal(verifyWebhook(BODY, headers, SECRET, { nowSeconds: NOW + 301 }))).toBe("stale_timestamp");
    expect(await refusal(verifyWebhook(BODY, headers, SECRET, { nowSeconds: NOW - 301 }))).toBe("stale_timestamp");
    await expect(verifyWebhook(BODY, headers, SECRET, { nowSeconds: NOW + 299 })).resolves.toBeTruthy();
    const { "webhook-signature": _, ...unsigned } = headers;
    expect(await refusal(verifyWebhook(BODY, unsigned, SECRET, { nowSeconds: NOW }))).toBe("missing_headers");
    const badTime = { ...headers, "webhook-timestamp": "soon" };
    expect(await refusal(verifyWebhook(BODY, badTime, SECRET, { nowSeconds: NOW }))).toBe("invalid_timestamp");
    expect(await refusal(verifyWebhook(BODY, headers, "whsec_***", { nowSeconds: NOW }))).toBe("invalid_secret");
  });
});
