/**
 * A service binding that runs in Node, not in workerd: the Whisper pool's own redaction step (gpu-worker's
 * `redactFile`: real ffmpeg decode → tone over the spans → 16-bit PCM WAV), which a Worker cannot run. vitest.config.ts
 * binds it as `POOL_FFMPEG`; the edge tests' stand-in for `POST {POOL_URL}/v1/redactions` (test/jobs/pii-audio-pool.test.ts)
 * POSTs the audio it fetched from the Worker's signed audio URL with `x-spans: [{start,end},…]`, and gets the WAV back
 * (or `422 {code, message}` with the pool's failure code).
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { tsImport } from "tsx/esm/api";

/** The pool's module, loaded through tsx: it imports `@vtt/pool-contract`, TypeScript that Node cannot load itself. */
type RedactModule = typeof import("../../gpu-worker/src/audio/redact.ts");
let pool: Promise<RedactModule> | undefined;

export async function poolFfmpegRedaction(request: Request): Promise<Response> {
  pool ??= tsImport("../../gpu-worker/src/audio/redact.ts", import.meta.url) as Promise<RedactModule>;
  const { redactFile } = await pool;
  const spans = JSON.parse(request.headers.get("x-spans") ?? "[]") as { start: number; end: number }[];
  const dir = await mkdtemp(path.join(os.tmpdir(), "edge-test-redact-"));
  try {
    const input = path.join(dir, "input");
    const output = path.join(dir, "redacted.wav");
    await writeFile(input, new Uint8Array(await request.arrayBuffer()));
    const wav = await redactFile(input, output, spans, { ffmpegPath: "ffmpeg", maxAudioSeconds: 4 * 3600 });
    return new Response(await readFile(output), {
      headers: { "x-sample-rate": String(wav.sampleRate), "x-channels": String(wav.channels) },
    });
  } catch (error) {
    // a PoolJobError (by name: tsx gives this loader its own copy of the class)
    if (!(error instanceof Error) || error.name !== "PoolJobError") throw error;
    return Response.json({ code: (error as Error & { code: string }).code, message: error.message }, { status: 422 });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
