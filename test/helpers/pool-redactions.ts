/**
 * The edge tests' stand-in for the Whisper pool's `POST {POOL_URL}/v1/redactions` (docs/pool-contract.md §5): it
 * checks the edge's signature and body, fetches the audio through the Worker's signed audio URL, runs the pool's own
 * redaction step with real ffmpeg in Node (the POOL_FFMPEG service binding, gpu-worker's `redactFile`) and PUTs the
 * WAV to the signed upload URL, as the pool's HTTP handler does (gpu-worker/test/redaction.test.ts runs that handler).
 */
import { parseKeyRing, RedactionRequestSchema, verifySignedRequest } from "@vtt/pool-contract";
import { env, exports } from "cloudflare:workers";

import type { Env } from "../../src/env.ts";
import { json, type RecordedRequest } from "./fetch-interceptor.ts";

/** What the stand-in pool saw and did. */
export interface PoolSide {
  requests: { jobId: string; spans: { start: number; end: number }[]; uploadStatus: number | null }[];
}

/** The stand-in for `POST {POOL_URL}/v1/redactions`: the contract's checks, then the pool's steps. */
export function poolRedactions(side: PoolSide) {
  return async (recorded: RecordedRequest): Promise<Response> => {
    const raw = new TextDecoder().decode(recorded.body);
    const verified = await verifySignedRequest(
      parseKeyRing((env as unknown as Env).POOL_SIGNING_KEYS),
      recorded.headers,
      raw,
    );
    if (!verified.ok) return json({ code: "invalid_signature" }, 401);
    const request = RedactionRequestSchema.parse(JSON.parse(raw));
    const entry = { jobId: request.job_id, spans: request.spans, uploadStatus: null as number | null };
    side.requests.push(entry);
    const audio = await exports.default.fetch(request.audio_url);
    if (audio.status !== 200) return json({ code: "audio_gone" }, 422);
    const toned = await env.POOL_FFMPEG.fetch("http://pool-ffmpeg/", {
      method: "POST",
      headers: { "x-spans": JSON.stringify(request.spans) },
      body: await audio.arrayBuffer(),
    });
    if (toned.status !== 200) return json(await toned.json(), 422);
    const wav = new Uint8Array(await toned.arrayBuffer());
    const put = await exports.default.fetch(request.upload_url, {
      method: "PUT",
      headers: { "content-type": "audio/wav", "content-length": String(wav.length) },
      body: wav,
    });
    entry.uploadStatus = put.status;
    if (put.status !== 200) return json({ code: "upload_failed" }, 422);
    const channels = Number(toned.headers.get("x-channels"));
    const rate = Number(toned.headers.get("x-sample-rate"));
    return json({
      job_id: request.job_id,
      bytes: wav.length,
      sample_rate: rate,
      channels,
      duration_seconds: (wav.length - 44) / (2 * channels * rate),
    });
  };
}
