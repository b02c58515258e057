/**
 * Security finding: a multipart upload rejected while its client was still sending broke other clients' requests.
 * The Worker used to cancel the request body; under `wrangler dev` the next request on that connection then failed
 * with `503 Your worker restarted mid-request` (or hung). Real HTTP against a real `wrangler dev`: each rejected
 * upload keeps sending after the point where it is refused, while another tenant uploads on the same keep-alive
 * connections. Every rejection must come back as its own 4xx, and every other upload must succeed.
 */
import { rmSync } from "node:fs";
import http from "node:http";

import { encodeWav16 } from "@vtt/pool-contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// plain ESM helper shared with `npm start`
import { freePort, stopAll } from "../scripts/lib/dev-env.mjs";
import { startWranglerDev } from "./support/wrangler-dev.ts";

const ADMIN = "e2e-admin-key-0123456789abcdef";
/** what each rejected upload still sends after the byte that gets it refused */
const TRAILING_BYTES = 2 * 1024 * 1024;
const CHUNK = 64 * 1024;
let base = "";
let stateDir = "";
// few sockets, kept alive: the rejected uploads and the other tenant's uploads share connections
const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });

beforeAll(async () => {
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = {
    ENVIRONMENT: "development",
    ADMIN_API_KEY: ADMIN,
    PROVIDERS: "whisper-pool",
    PUBLIC_BASE_URL: base,
    // nothing listens there: jobs stay queued, which is all this test needs
    POOL_URL: "http://127.0.0.1:9",
    POOL_SIGNING_KEYS: "e2e:edge-to-pool",
    POOL_CALLBACK_KEYS: "e2e:pool-to-edge",
    AUDIO_URL_KEYS: "e2e:audio-url",
    ENCRYPTION_KEYS: "e2e:e2e-master-key-0123456789abcdefghijkl",
  };
  const dev = await startWranglerDev({ label: "rejected", port, vars });
  stateDir = dev.stateDir;
  await dev.ready;
});

afterAll(async () => {
  agent.destroy();
  await stopAll();
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

/** A short tone as 16 kHz mono WAV (the contract's one WAV encoder). */
function wav(seconds = 0.5): Buffer {
  const samples = Float32Array.from({ length: Math.round(seconds * 16_000) }, (_, i) => Math.sin(i / 6) * 0.25);
  return Buffer.from(encodeWav16(samples, 16_000));
}

const BOUNDARY = "e2e-rejected-0f3a";
const part = (name: string, filename?: string) =>
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="${name}"${filename ? `; filename="${filename}"` : ""}\r\n` +
  (filename ? "Content-Type: audio/wav\r\n" : "") +
  "\r\n";

interface Sent {
  status: number | null;
  body: string;
  error?: string;
}

/**
 * Sends `head`, then keeps sending `TRAILING_BYTES` of filler in chunks (still part of the last part's content), then
 * `tail`. The Worker refuses the upload somewhere in `head`, while the client is still writing.
 */
function sendStreaming(
  key: string,
  contentType: string,
  head: Buffer,
  tail: Buffer,
  trailing = TRAILING_BYTES,
): Promise<Sent> {
  return new Promise((resolve) => {
    const headers = { authorization: `Bearer ${key}`, "content-type": contentType };
    const req = http.request(
      `${base}/v1/transcriptions`,
      { method: "POST", agent, headers, timeout: 30_000 },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? null, body }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timed out")));
    req.on("error", (error: NodeJS.ErrnoException) =>
      resolve({ status: null, body: "", error: error.code ?? error.message }),
    );
    req.write(head);
    let sent = 0;
    const pump = () => {
      if (req.destroyed) return;
      if (sent >= trailing) return void req.end(tail);
      sent += CHUNK;
      req.write(Buffer.alloc(CHUNK, 0x61));
      setTimeout(pump, 5);
    };
    pump();
  });
}

/** A well-formed upload of another tenant, sent whole. */
function goodUpload(key: string): Promise<Sent> {
  const body = Buffer.concat([Buffer.from(part("file", "ok.wav")), wav(), Buffer.from(`\r\n--${BOUNDARY}--\r\n`)]);
  return sendStreaming(key, `multipart/form-data; boundary=${BOUNDARY}`, body, Buffer.alloc(0), 0);
}

const multipartType = `multipart/form-data; boundary=${BOUNDARY}`;
const closing = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
const rejected: [name: string, status: number, code: string, send: (key: string) => Promise<Sent>][] = [
  [
    "a second file part",
    400,
    "duplicate_file",
    (key) =>
      sendStreaming(
        key,
        multipartType,
        Buffer.concat([Buffer.from(part("file", "a.wav")), wav(), Buffer.from("\r\n" + part("file", "b.wav"))]),
        closing,
      ),
  ],
  [
    "too many parts",
    400,
    "too_many_fields",
    (key) =>
      sendStreaming(
        key,
        multipartType,
        Buffer.from(Array.from({ length: 40 }, (_, i) => part(`f${i}`) + "x\r\n").join("") + part("file", "a.wav")),
        closing,
      ),
  ],
  [
    "an oversize field",
    400,
    "field_too_large",
    (key) => sendStreaming(key, multipartType, Buffer.from(part("prompt") + "p".repeat(70 * 1024)), closing),
  ],
  [
    "a part without Content-Disposition",
    400,
    "malformed_multipart",
    (key) =>
      sendStreaming(key, multipartType, Buffer.from(`--${BOUNDARY}\r\nContent-Type: audio/wav\r\n\r\n`), closing),
  ],
  [
    "a file part under another name",
    422,
    "unknown_field",
    (key) => sendStreaming(key, multipartType, Buffer.from(part("audio", "a.wav")), closing),
  ],
  [
    "raw bytes that are not audio",
    415,
    "unsupported_audio",
    (key) =>
      sendStreaming(
        key,
        "audio/wav",
        Buffer.from("this is not audio at all, only words ".repeat(200)),
        Buffer.alloc(0),
      ),
  ],
];

async function adminJson(pathname: string, body: unknown): Promise<Record<string, string>> {
  const res = await fetch(base + pathname, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return (await res.json()) as Record<string, string>;
}

async function tenantKey(name: string): Promise<string> {
  const tenant = await adminJson("/v1/admin/tenants", { name });
  return (await adminJson(`/v1/admin/tenants/${tenant.id}/keys`, {})).key!;
}

describe("an upload rejected mid-body does not break anyone else's requests", () => {
  it("every rejection is answered with its own 4xx, and every upload of another tenant succeeds", async () => {
    const attacker = await tenantKey("rejected-attacker");
    const victim = await tenantKey("rejected-victim");
    const failures: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (const [name, status, code, send] of rejected) {
        const [hostile, ...alongside] = await Promise.all([send(attacker), goodUpload(victim), goodUpload(victim)]);
        const after = await Promise.all([goodUpload(victim), goodUpload(victim), goodUpload(victim)]);
        const got = hostile.status === null ? hostile.error : `${hostile.status} ${safeCode(hostile.body)}`;
        if (got !== `${status} ${code}`) failures.push(`${name}: got ${got}`);
        for (const res of [...alongside, ...after]) {
          if (res.status !== 202)
            failures.push(`other tenant during "${name}": ${res.status ?? res.error} ${res.body.slice(0, 80)}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });
});

function safeCode(body: string): string {
  try {
    return String((JSON.parse(body) as { code?: unknown }).code);
  } catch {
    return body.slice(0, 60);
  }
}
