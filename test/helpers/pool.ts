/** Sends pool callbacks signed exactly as the pool signs them (docs/pool-contract.md). */
import { signedHeaders } from "@vtt/pool-contract";

import { call } from "./api.ts";

export const POOL_CALLBACK_RING = [{ id: "p2", secret: "pool-callback-new" }];
export const OLD_POOL_CALLBACK_RING = [{ id: "p1", secret: "pool-callback-old" }];

export async function poolCallback(
  body: unknown,
  ring = POOL_CALLBACK_RING,
  nowSeconds?: number,
  extraHeaders: Record<string, string> = {},
): Promise<Response> {
  const raw = JSON.stringify(body);
  const headers = await signedHeaders(ring, raw, nowSeconds);
  return call("/internal/pool/callback", {
    method: "POST",
    body: raw,
    headers: { ...headers, ...extraHeaders, "content-type": "application/json" },
  });
}

export function completedCallback(jobId: string, overrides: Record<string, unknown> = {}) {
  return {
    job_id: jobId,
    status: "completed",
    result: {
      text: "And so my fellow Americans, ask not what your country can do for you.",
      segments: [
        { start: 0, end: 3.5, text: "And so my fellow Americans," },
        { start: 3.5, end: 11.0, text: "ask not what your country can do for you." },
      ],
      words: [{ start: 0, end: 0.4, word: "And" }],
      language: "en",
      duration_seconds: 11,
      model: "ggml-tiny.en",
      timings: { total_ms: 900 },
      ...overrides,
    },
  };
}
