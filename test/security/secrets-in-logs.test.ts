/**
 * Nothing secret reaches the logs. Everything the Worker writes to the console is captured while a representative
 * flow runs (admin, uploads, the queue consumer against each provider's wire format, pool dispatch and callback,
 * webhook delivery with signing, refused keys and signatures, errors inside handlers), then every captured line is
 * checked against every secret the test knows: binding secrets (key rings split into their secrets), minted API keys,
 * webhook signing secrets, Authorization header values, request signatures and signed URLs, transcript text and a
 * marker hidden in the upload's prompt and metadata. Every line must also be one JSON object with an `event`.
 */
import { signedHeaders } from "@vtt/pool-contract";
import { env } from "cloudflare:workers";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";

import { log } from "../../src/lib/log.ts";
import { adminKey, call, callWith } from "../helpers/api.ts";
import { makeWav } from "../helpers/audio.ts";
import { interceptFetch, json } from "../helpers/fetch-interceptor.ts";
import { POOL_CALLBACK_RING } from "../helpers/pool.ts";
import { deliverJobs, deliverWebhooks } from "../helpers/queue.ts";
import { DEEPGRAM_RESPONSE, OPENAI_VERBOSE_JSON } from "../providers/fixtures.ts";

// ---------- console capture ----------

const METHODS = ["log", "info", "warn", "error", "debug", "trace"] as const;
const captured: { method: string; line: string }[] = [];
let spies: ReturnType<typeof vi.spyOn>[] = [];

function startCapture() {
  spies = METHODS.map((method) =>
    vi.spyOn(console, method).mockImplementation((...args: unknown[]) => {
      captured.push({
        method,
        line: args
          .map((a) =>
            typeof a === "string" ? a : a instanceof Error ? `${a.name}: ${a.message}\n${a.stack}` : safeJson(a),
          )
          .join(" "),
      });
    }),
  );
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** The fetch interceptor restores every mock after each test; the console spies must survive, so re-arm them. */
function ensureCapture() {
  if (!spies.length || !vi.isMockFunction(console.log)) startCapture();
}

// ---------- markers and secrets ----------

const MARKER = "zq-secret-prompt-marker-7f3a9c";
const META_MARKER = "zq-secret-metadata-marker-41be07";
const TRANSCRIPT = {
  openai: "zq openai transcript words one two three",
  deepgram: "zq deepgram transcript words four five six",
  pool: "zq pool transcript words seven eight nine",
};

/** Secrets the flow learns as it goes: minted keys, webhook secrets, header values, signatures, signed URLs. */
const learned = new Map<string, string>();
const learnedLabels = new Set<string>();
const learn = (label: string, value: string | null | undefined) => {
  if (!value) return;
  learnedLabels.add(label);
  if (!learned.has(value)) learned.set(value, label);
};

/** Every binding whose name says it is secret; `kid:secret,…` rings contribute each secret and the whole ring. */
function bindingSecrets(): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, value] of Object.entries(env as unknown as Record<string, unknown>)) {
    if (typeof value !== "string" || !/(KEY|KEYS|SECRET|SECRETS)$/.test(name)) continue;
    out.set(value, name);
    if (/^[^:,\s]+:[^,]+(,\s*[^:,\s]+:[^,]+)*$/.test(value)) {
      for (const entry of value.split(","))
        out.set(entry.trim().slice(entry.trim().indexOf(":") + 1), `${name} (ring entry)`);
    }
  }
  return out;
}

// ---------- flow helpers ----------

async function adminJson(path: string, body: unknown) {
  const res = await call(path, {
    method: "POST",
    key: adminKey(),
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  expect(res.status, await res.clone().text()).toBe(201);
  return res.json() as Promise<Record<string, unknown>>;
}

function uploadFields(provider: string): Record<string, string> {
  return {
    provider,
    language: "en",
    prompt: `vocabulary: ${MARKER}`,
    metadata: JSON.stringify({ note: META_MARKER }),
    webhook_url: "https://hooks.example.com/receiver",
    subject_id: "person-logs",
  };
}

async function multipart(key: string, provider: string): Promise<string> {
  const form = new FormData();
  for (const [name, value] of Object.entries(uploadFields(provider))) form.append(name, value);
  form.append("file", new Blob([makeWav(0.3)], { type: "audio/wav" }), `${MARKER}.wav`);
  const res = await call("/v1/transcriptions", {
    method: "POST",
    key,
    body: form,
    headers: { "idempotency-key": `idem-${MARKER}-${provider}` },
  });
  expect(res.status, await res.clone().text()).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

async function raw(key: string, provider: string): Promise<string> {
  const query = new URLSearchParams(uploadFields(provider));
  const res = await call(`/v1/transcriptions?${query}`, {
    method: "POST",
    key,
    body: makeWav(0.3),
    headers: { "content-type": "audio/wav" },
  });
  expect(res.status, await res.clone().text()).toBe(202);
  return ((await res.json()) as { id: string }).id;
}

const eventIdsOf = async (jobIds: string[]) =>
  (
    await env.DB.prepare(`select id from webhook_events where job_id in (${jobIds.map(() => "?").join(",")})`)
      .bind(...jobIds)
      .all<{ id: string }>()
  ).results.map((r) => r.id);

// ---------- the tests ----------

beforeAll(() => {
  startCapture();
});

afterAll(() => {
  for (const spy of spies) spy.mockRestore();
});

describe("console capture", () => {
  it("captures src/lib/log.ts output, called directly and from inside a request handled by the Worker", async () => {
    ensureCapture();
    const start = captured.length;
    log("capture_probe", { n: 1 });
    expect(captured.slice(start).map((c) => JSON.parse(c.line).event)).toContain("capture_probe");
    // a request whose handling logs: a pool callback for an unknown job is dropped silently, a failed upload enqueue is
    // logged, so use the erasure route (it logs `erasure`) through the Worker's own fetch entry point
    const tenant = await adminJson("/v1/admin/tenants", { name: "capture-probe" });
    const key = (await adminJson(`/v1/admin/tenants/${tenant.id}/keys`, {})).key as string;
    learn("probe key", key);
    const before = captured.length;
    const res = await call("/v1/subjects/nobody", { method: "DELETE", key });
    expect(res.status).toBe(200);
    expect(
      captured.slice(before).map((c) => JSON.parse(c.line).event),
      "a log line written inside exports.default.fetch",
    ).toContain("erasure");
  });
});

describe("a representative flow writes no secret to the logs", () => {
  let tenantId = "";
  let key = "";
  let readKey = "";
  const jobs: Record<string, string> = {};

  it("admin: creates a tenant and keys; a key is revoked", async () => {
    ensureCapture();
    const tenant = await adminJson("/v1/admin/tenants", { name: "logs" });
    tenantId = tenant.id as string;
    const full = await adminJson(`/v1/admin/tenants/${tenantId}/keys`, { name: "full" });
    key = full.key as string;
    readKey = (
      await adminJson(`/v1/admin/tenants/${tenantId}/keys`, { name: "reader", scopes: ["transcriptions:read"] })
    ).key as string;
    const doomed = await adminJson(`/v1/admin/tenants/${tenantId}/keys`, {
      name: "doomed",
      expires_at: new Date(Date.now() + 86_400_000).toISOString(),
    });
    learn("minted key", key);
    learn("minted read key", readKey);
    learn("minted revoked key", doomed.key as string);
    for (const k of [key, readKey, doomed.key as string]) learn("Authorization header", `Bearer ${k}`);
    expect(
      (await call(`/v1/admin/tenants/${tenantId}/keys/${doomed.id}/revoke`, { method: "POST", key: adminKey() }))
        .status,
    ).toBe(204);
    expect((await call("/v1/transcriptions", { key: doomed.key as string })).status).toBe(401);
  });

  it("webhook secrets: read and rotated", async () => {
    ensureCapture();
    const first = (await (await call("/v1/webhooks/secret", { key })).json()) as { secret: string };
    learn("webhook secret", first.secret);
    learn("webhook secret body", first.secret.replace(/^whsec_/, ""));
    const rotated = (await (await call("/v1/webhooks/secret/rotate", { method: "POST", key })).json()) as {
      secret: string;
      previous_secret: string;
    };
    learn("rotated webhook secret", rotated.secret);
    learn("rotated webhook secret body", rotated.secret.replace(/^whsec_/, ""));
    expect(rotated.previous_secret).toBe(first.secret);
  });

  it("uploads, multipart and raw, with the key in the Authorization header", async () => {
    ensureCapture();
    jobs.openai = await multipart(key, "openai");
    jobs.deepgram = await raw(key, "deepgram");
    jobs.pool = await multipart(key, "whisper-pool");
    jobs.openaiRejected = await raw(key, "openai");
    jobs.deepgramDown = await raw(key, "deepgram");
    // a replay of the same Idempotency-Key
    const form = new FormData();
    for (const [name, value] of Object.entries(uploadFields("openai"))) form.append(name, value);
    form.append("file", new Blob([makeWav(0.3)], { type: "audio/wav" }), `${MARKER}.wav`);
    const replay = await call("/v1/transcriptions", {
      method: "POST",
      key,
      body: form,
      headers: { "idempotency-key": `idem-${MARKER}-openai` },
    });
    expect(replay.status).toBe(200);
  });

  it("the queue consumer runs each provider; provider errors echoing credentials are not logged", async () => {
    ensureCapture();
    const outbound = interceptFetch()
      .on("POST", "https://api.openai.com/v1/audio/transcriptions", (r) => {
        learn("OpenAI Authorization header", r.headers.get("authorization"));
        return json({
          ...OPENAI_VERBOSE_JSON,
          text: TRANSCRIPT.openai,
          segments: [{ ...OPENAI_VERBOSE_JSON.segments[0], text: TRANSCRIPT.openai }],
        });
      })
      .on("POST", "https://api.deepgram.com/", (r) => {
        learn("Deepgram Authorization header", r.headers.get("authorization"));
        const channel = DEEPGRAM_RESPONSE.results.channels[0]!;
        return json({
          ...DEEPGRAM_RESPONSE,
          results: {
            channels: [
              { ...channel, alternatives: [{ ...channel.alternatives[0]!, transcript: TRANSCRIPT.deepgram }] },
            ],
            utterances: [{ ...DEEPGRAM_RESPONSE.results.utterances[0]!, transcript: TRANSCRIPT.deepgram }],
          },
        });
      })
      .on("POST", "https://pool.test/v1/jobs", (r) => {
        learn("pool request signature", r.headers.get("x-vtt-signature"));
        const body = JSON.parse(new TextDecoder().decode(r.body)) as { audio_url: string };
        learn("signed audio URL", body.audio_url);
        learn("signed audio URL signature", new URL(body.audio_url).searchParams.get("sig"));
        return json({ status: "queued" }, 202);
      });
    for (const name of ["openai", "deepgram", "pool"]) {
      const result = await deliverJobs([jobs[name]!], tenantId);
      expect(result.explicitAcks, name).toHaveLength(1);
    }
    expect(outbound.requests.map((r) => r.url.hostname).sort()).toEqual([
      "api.deepgram.com",
      "api.openai.com",
      "pool.test",
    ]);

    // a provider that rejects the credentials and echoes them back, and one whose connection error carries them
    interceptFetch()
      .on("POST", "https://api.openai.com/", () =>
        json(
          {
            error: {
              message: `Incorrect API key provided: ${env.OPENAI_API_KEY}. Prompt was: ${MARKER}`,
              type: "invalid_request_error",
              code: "invalid_api_key",
            },
          },
          401,
        ),
      )
      .on("POST", "https://api.deepgram.com/", () => {
        throw new TypeError(`connect failed: authorization: Token ${env.DEEPGRAM_API_KEY} (${MARKER})`);
      });
    await deliverJobs([jobs.openaiRejected!], tenantId);
    const retried = await deliverJobs([jobs.deepgramDown!], tenantId);
    expect(retried.retryMessages).toHaveLength(1);
    const rejected = (await (await call(`/v1/transcriptions/${jobs.openaiRejected}`, { key })).json()) as {
      status: string;
      error: { message: string };
    };
    expect(rejected.status).toBe("failed");
    // the provider's echo of our credential must not reach the tenant either
    expect(JSON.stringify(rejected.error)).not.toContain(env.OPENAI_API_KEY!);
  });

  it("the pool fetches its audio and calls back; a forged and a stale callback are refused", async () => {
    ensureCapture();
    const audioUrl = [...learned.entries()].find(([, label]) => label === "signed audio URL")![0];
    const audio = await call(new URL(audioUrl).pathname + new URL(audioUrl).search);
    expect(audio.status).toBe(200);
    await audio.arrayBuffer();

    const body = JSON.stringify({
      job_id: jobs.pool,
      status: "completed",
      result: {
        text: TRANSCRIPT.pool,
        segments: [{ start: 0, end: 1, text: TRANSCRIPT.pool }],
        language: "en",
        duration_seconds: 1,
        model: "ggml-tiny.en",
      },
    });
    const forged = await call("/internal/pool/callback", {
      method: "POST",
      body,
      headers: {
        ...(await signedHeaders([{ id: "p2", secret: "guessed-secret" }], body)),
        "content-type": "application/json",
      },
    });
    expect(forged.status).toBe(401);
    const stale = await call("/internal/pool/callback", {
      method: "POST",
      body,
      headers: {
        ...(await signedHeaders(POOL_CALLBACK_RING, body, Math.floor(Date.now() / 1000) - 3600)),
        "content-type": "application/json",
      },
    });
    expect(stale.status).toBe(401);
    const headers = await signedHeaders(POOL_CALLBACK_RING, body);
    learn("callback signature", headers["x-vtt-signature"]);
    const ok = await call("/internal/pool/callback", {
      method: "POST",
      body,
      headers: { ...headers, "content-type": "application/json" },
    });
    expect(await ok.json()).toEqual({ ok: true, applied: true });
  });

  it("webhooks are delivered signed (one receiver fails, one refuses)", async () => {
    ensureCapture();
    const eventIds = await eventIdsOf([jobs.openai!, jobs.deepgram!, jobs.pool!, jobs.openaiRejected!]);
    expect(eventIds).toHaveLength(4);
    let n = 0;
    const outbound = interceptFetch().on("POST", "https://hooks.example.com/receiver", (r) => {
      learn("webhook signature header", r.headers.get("webhook-signature"));
      for (const sig of (r.headers.get("webhook-signature") ?? "").split(" "))
        learn("webhook signature", sig.replace(/^v1,/, ""));
      n++;
      return n === 2
        ? new Response("nope", { status: 500 })
        : n === 3
          ? new Response("gone", { status: 410 })
          : new Response("ok");
    });
    await deliverWebhooks(eventIds);
    expect(outbound.requests).toHaveLength(4);
  });

  it("reads and exports the results", async () => {
    ensureCapture();
    for (const id of [jobs.openai, jobs.deepgram, jobs.pool]) {
      const job = (await (await call(`/v1/transcriptions/${id}`, { key: readKey })).json()) as {
        status: string;
        text: string;
      };
      expect(job.status).toBe("completed");
      for (const format of ["txt", "srt", "vtt", "json"])
        expect((await call(`/v1/transcriptions/${id}/transcript?format=${format}`, { key })).status).toBe(200);
    }
    expect((await call(`/v1/transcriptions?limit=100`, { key })).status).toBe(200);
    expect((await call(`/v1/transcriptions/${jobs.pool}/webhooks`, { key })).status).toBe(200);
  });

  it("refused keys and refused audio URLs", async () => {
    ensureCapture();
    const wrong = [
      "vtt_live_" + "W".repeat(43),
      `${key.slice(0, -2)}zz`,
      `${adminKey()}-typo`,
      env.OPENAI_API_KEY!,
      "not a key at all",
    ];
    for (const k of wrong) {
      learn("refused Authorization header", `Bearer ${k}`);
      learn("refused key", k);
      const res = await call("/v1/transcriptions", { headers: { authorization: `Bearer ${k}` } });
      expect(res.status).toBe(401);
    }
    const basic = `Basic ${btoa(`admin:${MARKER}`)}`;
    learn("Basic Authorization header", basic);
    expect((await call("/v1/transcriptions", { headers: { authorization: basic } })).status).toBe(401);
    expect(
      (
        await call(`/v1/transcriptions`, {
          method: "POST",
          key: readKey,
          body: makeWav(0.1),
          headers: { "content-type": "audio/wav" },
        })
      ).status,
    ).toBe(403);
    expect(
      (
        await call(
          `/internal/audio/${jobs.pool}?exp=${Math.floor(Date.now() / 1000) + 60}&kid=a1&sig=${"f".repeat(64)}`,
        )
      ).status,
    ).toBe(403);
  });

  it("errors inside handlers (a failing database, a provider throwing a non-Error) are logged without request data", async () => {
    ensureCapture();
    const boom = (what: string) =>
      new Error(`${what} failed while handling Bearer ${key} / ${MARKER} / ${env.ADMIN_API_KEY}`);
    const brokenDb = new Proxy(env.DB, {
      get(target, prop) {
        if (prop === "prepare" || prop === "batch" || prop === "exec") {
          return () => {
            throw boom("D1");
          };
        }
        const value = Reflect.get(target, prop);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const res = await callWith({ DB: brokenDb as D1Database }, "/v1/transcriptions", { key });
    expect(res.status).toBe(500);
    expect(await res.text()).not.toContain(key);

    // and a queue consumer whose provider throws something that is not an Error
    const id = await raw(key, "openai");
    interceptFetch().on("POST", "https://api.openai.com/", () => {
      throw { toString: () => `weird failure ${env.OPENAI_API_KEY} ${MARKER}` };
    });
    await deliverJobs([id], tenantId);
  });

  it("the captured lines hold no secret, and each is one JSON object with an `event`", () => {
    const secrets = new Map<string, string>([...bindingSecrets(), ...learned]);
    for (const t of Object.values(TRANSCRIPT)) secrets.set(t, "transcript text");
    secrets.set(MARKER, "prompt marker");
    secrets.set(META_MARKER, "metadata marker");
    for (const name of [
      "ADMIN_API_KEY",
      "OPENAI_API_KEY",
      "DEEPGRAM_API_KEY",
      "POOL_SIGNING_KEYS",
      "POOL_CALLBACK_KEYS",
      "AUDIO_URL_KEYS",
    ]) {
      expect([...bindingSecrets().values()], `binding ${name} is enumerated`).toContain(name);
    }
    for (const part of ["edge-to-pool-secret", "pool-callback-new", "pool-callback-old", "audio-url-secret"])
      expect(secrets.has(part), part).toBe(true);
    for (const label of [
      "minted key",
      "webhook secret",
      "rotated webhook secret",
      "signed audio URL",
      "OpenAI Authorization header",
      "Deepgram Authorization header",
      "webhook signature header",
    ]) {
      expect([...learnedLabels], `learned a ${label}`).toContain(label);
    }
    for (const [secret] of secrets)
      expect(secret.length, `secret too short to search for: ${secret}`).toBeGreaterThanOrEqual(8);

    // the flow did log: one line at least for each stage
    const events = captured.map((c) => {
      try {
        return (JSON.parse(c.line) as { event?: unknown }).event;
      } catch {
        return undefined;
      }
    });
    for (const event of [
      "provider_call",
      "job_completed",
      "job_dispatched",
      "pool_callback",
      "webhook_enqueued",
      "webhook_attempt",
      "unhandled_error",
    ]) {
      expect(events, `a "${event}" line was captured`).toContain(event);
    }

    const { leaks, unstructured } = audit(captured, secrets);
    expect(leaks).toEqual([]);
    expect(unstructured).toEqual([]);
  });
});

describe("a failed enqueue whose error message carries request data", () => {
  it("is logged as a structured line without the message's secrets", async () => {
    ensureCapture();
    const tenant = await adminJson("/v1/admin/tenants", { name: "enqueue-failure" });
    const key = (await adminJson(`/v1/admin/tenants/${tenant.id}/keys`, {})).key as string;
    // binding errors can quote what they were given; here the message carries the caller's key, a prompt and a secret
    const boom = (what: string) =>
      new Error(`${what} failed while handling Bearer ${key} / ${MARKER} / ${env.ADMIN_API_KEY}`);
    const brokenQueue = {
      send: async () => Promise.reject(boom("Queue send")),
      sendBatch: async () => Promise.reject(boom("Queue sendBatch")),
    };
    const form = new FormData();
    for (const [name, value] of Object.entries(uploadFields("openai"))) form.append(name, value);
    form.append("file", new Blob([makeWav(0.2)], { type: "audio/wav" }), "q.wav");
    const start = captured.length;
    const res = await callWith({ JOBS: brokenQueue as unknown as Queue }, "/v1/transcriptions", {
      method: "POST",
      key,
      body: form,
    });
    expect(res.status, "the job is kept and re-sent by the sweeper").toBe(202);
    const lines = captured.slice(start);
    expect(lines.map((c) => c.line).join("\n")).toContain("enqueue_failed");
    const secrets = new Map<string, string>([
      ...bindingSecrets(),
      [key, "minted key"],
      [`Bearer ${key}`, "Authorization header"],
      [MARKER, "prompt marker"],
    ]);
    const { leaks, unstructured } = audit(lines, secrets);
    expect(leaks).toEqual([]);
    expect(unstructured).toEqual([]);
  });
});

describe("an audio_url job", () => {
  it("logs neither the URL's path and query, nor a redirect's, nor the audio_url_headers", async () => {
    ensureCapture();
    const tenant = await adminJson("/v1/admin/tenants", { name: "audio-url-logs" });
    const key = (await adminJson(`/v1/admin/tenants/${tenant.id}/keys`, {})).key as string;
    const urlToken = "zq-url-query-token-5d21e8";
    const pathToken = "zq-url-path-token-0b9c44";
    const redirectToken = "zq-redirect-token-77aa10";
    const headerSecret = "zq-bucket-bearer-secret-3e6f";
    const submit = async (path: string) => {
      const res = await call("/v1/transcriptions", {
        method: "POST",
        key,
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          audio_url: `https://media.example.com/${pathToken}/${path}?sig=${urlToken}`,
          audio_url_headers: { authorization: `Bearer ${headerSecret}` },
        }),
      });
      expect(res.status).toBe(202);
      return ((await res.json()) as { id: string }).id;
    };
    const start = captured.length;
    const ok = await submit("ok.wav");
    const broken = await submit("broken.wav");
    const refused = await call("/v1/transcriptions", {
      method: "POST",
      key,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        audio_url: `http://10.0.0.1/${pathToken}?sig=${urlToken}`,
        audio_url_headers: { "x-token": headerSecret },
      }),
    });
    expect(refused.status).toBe(422);
    interceptFetch()
      .on(
        "GET",
        `https://media.example.com/${pathToken}/ok.wav`,
        () =>
          new Response(null, {
            status: 302,
            headers: { location: `https://cdn.example.net/a.wav?t=${redirectToken}` },
          }),
      )
      .on("GET", "https://cdn.example.net/a.wav", () => new Response(makeWav(0.3)))
      .on("GET", `https://media.example.com/${pathToken}/broken.wav`, (r) => {
        // a connection error that quotes the request, as some runtimes' do
        throw new TypeError(`connect failed: ${r.url.href} authorization: ${r.headers.get("authorization")}`);
      })
      .on("POST", "https://api.openai.com/v1/audio/transcriptions", () => json(OPENAI_VERBOSE_JSON));
    expect((await deliverJobs([ok], tenant.id as string)).explicitAcks).toHaveLength(1);
    expect((await deliverJobs([broken], tenant.id as string)).retryMessages).toHaveLength(1);
    const lines = captured.slice(start);
    expect(lines.map((c) => c.line).join("\n")).toContain("audio_url_fetched");
    const secrets = new Map<string, string>([
      ...bindingSecrets(),
      [key, "minted key"],
      [urlToken, "audio_url query token"],
      [pathToken, "audio_url path"],
      [redirectToken, "redirect Location query"],
      [headerSecret, "audio_url_headers value"],
    ]);
    const { leaks, unstructured } = audit(lines, secrets);
    expect(leaks).toEqual([]);
    expect(unstructured).toEqual([]);
  });
});

/** Lines that contain a secret, and lines that are not one JSON object with a string `event`. */
function audit(
  lines: { method: string; line: string }[],
  secrets: Map<string, string>,
): { leaks: string[]; unstructured: string[] } {
  const leaks: string[] = [];
  const unstructured: string[] = [];
  for (const { method, line } of lines) {
    for (const [secret, label] of secrets)
      if (line.includes(secret)) leaks.push(`console.${method} leaks ${label}: ${line.slice(0, 300)}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      parsed = undefined;
    }
    const ok =
      typeof parsed === "object" &&
      parsed !== null &&
      !Array.isArray(parsed) &&
      typeof (parsed as { event?: unknown }).event === "string";
    if (!ok) unstructured.push(`console.${method}: ${line.slice(0, 300)}`);
  }
  return { leaks, unstructured };
}
