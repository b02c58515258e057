import { env } from "cloudflare:workers";
import { Webhook } from "standardwebhooks";
import { afterEach, describe, expect, it, vi } from "vitest";

import { call, createTenant, multipartUpload } from "../helpers/api.ts";
import { completedCallback, poolCallback } from "../helpers/pool.ts";
import { deliverWebhooks } from "../helpers/queue.ts";

interface Received {
  url: string;
  headers: Record<string, string>;
  body: string;
}

/** Stands in for the tenant's receiver: records each delivery and answers with the next scripted status. */
function receiver(statuses: number[]) {
  const received: Received[] = [];
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    const request = new Request(input, init);
    if (!request.url.startsWith("https://hooks.example.com/"))
      throw new Error(`unexpected outbound request to ${request.url}`);
    received.push({ url: request.url, headers: Object.fromEntries(request.headers), body: await request.text() });
    return new Response("ok", { status: statuses[Math.min(received.length - 1, statuses.length - 1)] });
  });
  return received;
}

afterEach(() => vi.restoreAllMocks());

async function completedJobWithWebhook(key: string): Promise<{ id: string; eventId: string }> {
  const res = await multipartUpload(key, { provider: "whisper-pool", webhook_url: "https://hooks.example.com/vtt" });
  const { id } = (await res.json()) as { id: string };
  await poolCallback(completedCallback(id));
  // a duplicate callback must not create a second event
  await poolCallback(completedCallback(id));
  const events = await env.DB.prepare("select id from webhook_events where job_id = ?").bind(id).all<{ id: string }>();
  expect(events.results).toHaveLength(1);
  return { id, eventId: events.results[0]!.id };
}

describe("signed webhooks", () => {
  it("delivers transcription.completed signed so a standardwebhooks receiver verifies it", async () => {
    const { key } = await createTenant("hooks");
    const { id, eventId } = await completedJobWithWebhook(key);
    const received = receiver([200]);
    const result = await deliverWebhooks([eventId]);
    expect(result.explicitAcks).toEqual(result.ids);
    expect(received).toHaveLength(1);
    const { secret } = (await (await call("/v1/webhooks/secret", { key })).json()) as { secret: string };
    const payload = new Webhook(secret).verify(received[0]!.body, received[0]!.headers) as Record<string, unknown>;
    expect(payload).toMatchObject({ type: "transcription.completed", data: { id, status: "completed" } });
    expect(received[0]!.body).not.toContain("ask not");
    expect(received[0]!.headers["webhook-id"]).toBe(eventId);
  });

  it("retries non-2xx with the same webhook-id, records every attempt, and stops on 410", async () => {
    const { key } = await createTenant("hooks-retry");
    const { id, eventId } = await completedJobWithWebhook(key);
    const received = receiver([503, 500, 410]);
    const first = await deliverWebhooks([eventId]);
    expect(first.retried).toEqual(first.ids);
    expect(first.retryDelays.get(first.ids[0]!)).toBeGreaterThan(0);
    await deliverWebhooks([{ eventId, attempts: 2 }]);
    const last = await deliverWebhooks([{ eventId, attempts: 3 }]);
    expect(last.explicitAcks).toEqual(last.ids);
    expect(new Set(received.map((r) => r.headers["webhook-id"]))).toEqual(new Set([eventId]));
    const log = (await (await call(`/v1/transcriptions/${id}/webhooks`, { key })).json()) as {
      data: { status: string; attempts: { status_code: number }[] }[];
    };
    expect(log.data).toHaveLength(1);
    expect(log.data[0]!.status).toBe("gave_up");
    expect(log.data[0]!.attempts.map((a) => a.status_code)).toEqual([503, 500, 410]);
    // another tenant cannot read this log
    const { key: stranger } = await createTenant("stranger");
    expect((await call(`/v1/transcriptions/${id}/webhooks`, { key: stranger })).status).toBe(404);
  });

  it("after rotation both the old and the new secret verify during the grace period", async () => {
    const { key } = await createTenant("hooks-rotate");
    const { eventId } = await completedJobWithWebhook(key);
    const old = (await (await call("/v1/webhooks/secret", { key })).json()) as { secret: string };
    const rotated = (await (await call("/v1/webhooks/secret/rotate", { method: "POST", key })).json()) as {
      secret: string;
      previous_secret: string;
    };
    expect(rotated.secret).not.toBe(old.secret);
    expect(rotated.previous_secret).toBe(old.secret);
    const received = receiver([200]);
    await deliverWebhooks([eventId]);
    for (const secret of [old.secret, rotated.secret]) {
      expect(() => new Webhook(secret).verify(received[0]!.body, received[0]!.headers)).not.toThrow();
    }
  });

  it("a URL the SSRF guard refuses is never fetched", async () => {
    const { key, tenantId } = await createTenant("hooks-ssrf");
    const res = await multipartUpload(key, { provider: "whisper-pool", webhook_url: "https://hooks.example.com/x" });
    const { id } = (await res.json()) as { id: string };
    // simulate a stored URL that the guard rejects at delivery time (e.g. rules tightened since)
    await env.DB.prepare("update transcriptions set webhook_url = ? where id = ?")
      .bind("https://169.254.169.254/latest", id)
      .run();
    await poolCallback(completedCallback(id));
    const event = await env.DB.prepare("select id from webhook_events where job_id = ? and tenant_id = ?")
      .bind(id, tenantId)
      .first<{ id: string }>();
    const received = receiver([200]);
    const result = await deliverWebhooks([event!.id]);
    expect(result.explicitAcks).toEqual(result.ids);
    expect(received).toHaveLength(0);
  });
});
