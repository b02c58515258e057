/**
 * A stand-in for the edge Worker's two internal endpoints, over real HTTP: it serves per-job audio at
 * `/internal/audio/:id` (checking the URL signature like the edge) and receives callbacks at
 * `/internal/pool/callback` (verifying the pool's signature with the real signing module).
 * Tests script its answers (e.g. "503 for the first two callbacks") and read what it received.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

import { signAudioUrl, signedHeaders, type SigningKey, timingSafeEqual, verifySignedRequest } from "@vtt/pool-contract";

import type { CallbackBody } from "../../src/callback/deliver.ts";

export const BRIDGE_KEYS: SigningKey[] = [
  { id: "e2", secret: "edge-to-pool-new" },
  { id: "e1", secret: "edge-to-pool-old" },
];
export const CALLBACK_KEYS: SigningKey[] = [{ id: "p1", secret: "pool-callback-secret" }];
const AUDIO_KEY: SigningKey = { id: "a1", secret: "audio-url-secret" };

/** A received, signature-checked callback. */
export interface ReceivedCallback {
  body: CallbackBody;
  keyId: string;
  answeredStatus: number;
  traceparent: string | null;
}

/** The fake edge. */
export interface FakeEdge {
  url: string;
  /** Registers audio bytes for a job; returns the dispatch body for it. */
  addJob(
    jobId: string,
    audio: Uint8Array | null,
    extra?: { language?: string | null; prompt?: string | null },
  ): Promise<Record<string, unknown>>;
  callbacks: ReceivedCallback[];
  /** Statuses for the next callbacks, consumed in order (then 200). */
  callbackStatuses: number[];
  /** Delays the audio response (to hold a job mid-flight). */
  audioDelayMs: number;
  audioRequests: string[];
  /** Resolves when `count` callbacks (acknowledged or not) for `jobId` arrived. */
  waitForCallback(jobId: string, options?: { acknowledged?: boolean; timeoutMs?: number }): Promise<ReceivedCallback>;
  close(): Promise<void>;
}

/** Starts the fake edge on a free port. */
export async function startFakeEdge(): Promise<FakeEdge> {
  const audio = new Map<string, Uint8Array | null>();
  const waiters: (() => void)[] = [];
  const edge: FakeEdge = {
    url: "",
    callbacks: [],
    callbackStatuses: [],
    audioDelayMs: 0,
    audioRequests: [],
    async addJob(jobId, bytes, extra = {}) {
      audio.set(jobId, bytes);
      const exp = Math.floor(Date.now() / 1000) + 600;
      const sig = await signAudioUrl(AUDIO_KEY.secret, jobId, exp);
      return {
        job_id: jobId,
        language: extra.language === undefined ? "en" : extra.language,
        prompt: extra.prompt ?? null,
        audio_url: `${edge.url}/internal/audio/${jobId}?exp=${exp}&kid=${AUDIO_KEY.id}&sig=${sig}`,
        audio_expires_at: exp,
        callback_url: `${edge.url}/internal/pool/callback`,
        traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      };
    },
    waitForCallback(jobId, options = {}) {
      const timeoutMs = options.timeoutMs ?? 30_000;
      const find = (): ReceivedCallback | undefined =>
        edge.callbacks.find((c) => c.body.job_id === jobId && (!options.acknowledged || c.answeredStatus === 200));
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no callback for ${jobId} within ${timeoutMs} ms`)), timeoutMs);
        const check = (): void => {
          const found = find();
          if (found) {
            clearTimeout(timer);
            resolve(found);
          } else waiters.push(check);
        };
        check();
      });
    },
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server = http.createServer(async (request, response) => {
    const url = new URL(request.url ?? "/", "http://edge");
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    const audioMatch = /^\/internal\/audio\/([^/]+)$/.exec(url.pathname);
    if (audioMatch && request.method === "GET") {
      const jobId = audioMatch[1]!;
      edge.audioRequests.push(jobId);
      const exp = Number(url.searchParams.get("exp"));
      const expected = await signAudioUrl(AUDIO_KEY.secret, jobId, exp);
      if (!timingSafeEqual(expected, url.searchParams.get("sig") ?? "") || exp < Date.now() / 1000) {
        response.writeHead(403).end();
        return;
      }
      const bytes = audio.get(jobId);
      if (!bytes) {
        response.writeHead(404).end();
        return;
      }
      if (edge.audioDelayMs) await new Promise((resolve) => setTimeout(resolve, edge.audioDelayMs));
      response.writeHead(200, { "content-type": "application/octet-stream", "content-length": String(bytes.length) });
      response.end(bytes);
      return;
    }
    if (url.pathname === "/internal/pool/callback" && request.method === "POST") {
      const verified = await verifySignedRequest(
        CALLBACK_KEYS,
        { get: (name) => (request.headers[name] as string | undefined) ?? null },
        raw,
      );
      if (!verified.ok) {
        response.writeHead(401).end();
        return;
      }
      const status = edge.callbackStatuses.shift() ?? 200;
      const traceparent = (request.headers.traceparent as string | undefined) ?? null;
      edge.callbacks.push({
        body: JSON.parse(raw) as CallbackBody,
        keyId: verified.keyId,
        answeredStatus: status,
        traceparent,
      });
      response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify({ ok: status === 200 }));
      for (const wake of waiters.splice(0)) wake();
      return;
    }
    response.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  edge.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return edge;
}

/** POSTs a dispatch to the pool, signed like the edge (first key of `ring` signs). */
export async function dispatch(
  poolUrl: string,
  body: unknown,
  ring: SigningKey[] = BRIDGE_KEYS,
  nowSeconds?: number,
): Promise<Response> {
  const raw = typeof body === "string" ? body : JSON.stringify(body);
  const headers = await signedHeaders(ring, raw, nowSeconds);
  return fetch(`${poolUrl}/v1/jobs`, {
    method: "POST",
    headers: { ...headers, "content-type": "application/json" },
    body: raw,
  });
}

/**
 * Sends `DELETE /v1/jobs/{jobId}` signed like the edge (over `DELETE /v1/jobs/{id}`, docs/pool-contract.md §4).
 * `signedJobId` signs another id than the one in the path (a replay attempt).
 */
export async function eraseJob(
  poolUrl: string,
  jobId: string,
  options: { ring?: SigningKey[]; nowSeconds?: number; signedJobId?: string } = {},
): Promise<Response> {
  const headers = await signedHeaders(
    options.ring ?? BRIDGE_KEYS,
    `DELETE /v1/jobs/${options.signedJobId ?? jobId}`,
    options.nowSeconds,
  );
  return fetch(`${poolUrl}/v1/jobs/${encodeURIComponent(jobId)}`, { method: "DELETE", headers });
}
