/**
 * The real `openai` SDK pointed at the Worker's fetch handler, and what a test needs around a held request: the job it
 * created (found in D1 while the request waits) and a way to finish that job through the pool callback.
 */
import { createExecutionContext } from "cloudflare:test";
import { env, exports } from "cloudflare:workers";
import OpenAI from "openai";
import { expect } from "vitest";

import type { Env } from "../../src/env.ts";
import worker from "../../src/index.ts";
import { BASE } from "./api.ts";
import { completedCallback, poolCallback } from "./pool.ts";

/** An SDK client whose requests go to this Worker (with `env` overriding bindings); no SDK retries unless asked. */
export function openaiClient(apiKey: string, options: { maxRetries?: number; env?: Partial<Env> } = {}): OpenAI {
  const overrides = options.env;
  const fetch = async (input: string | URL | Request, init?: RequestInit): Promise<Response> => {
    const request = new Request(input, init);
    // the SDK probes FormData support with a `data:` URL; that never reaches the Worker
    if (request.url.startsWith("data:")) return globalThis.fetch(request);
    if (!overrides) return exports.default.fetch(request);
    const incoming = request as Request<unknown, IncomingRequestCfProperties>;
    return worker.fetch(incoming, { ...env, ...overrides } as Env, createExecutionContext());
  };
  return new OpenAI({ apiKey, baseURL: `${BASE}/v1`, fetch, maxRetries: options.maxRetries ?? 0 });
}

/** Job ids of a tenant, newest first. */
export async function jobIdsOf(tenantId: string): Promise<string[]> {
  const { results } = await env.DB.prepare("select id from transcriptions where tenant_id = ? order by id desc")
    .bind(tenantId)
    .all<{ id: string }>();
  return results.map((r) => r.id);
}

/** Waits until the tenant has a job that is not in `known`, and returns its id. */
export async function newJobOf(tenantId: string, known: readonly string[] = [], timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const fresh = (await jobIdsOf(tenantId)).find((id) => !known.includes(id));
    if (fresh) return fresh;
    if (Date.now() > deadline) throw new Error(`no new job for ${tenantId} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Finishes a whisper-pool job with a signed callback, as the pool would. */
export async function completeThroughPool(jobId: string, result: Record<string, unknown> = {}): Promise<void> {
  const res = await poolCallback(completedCallback(jobId, result));
  expect(await res.json()).toEqual({ ok: true, applied: true });
}

/** Fails a whisper-pool job with a signed callback. */
export async function failThroughPool(jobId: string, code: string, message: string): Promise<void> {
  const res = await poolCallback({ job_id: jobId, status: "failed", error: { code, message } });
  expect(await res.json()).toEqual({ ok: true, applied: true });
}
