/**
 * The `vtt` CLI and `@vtt/client` against a real `wrangler dev` (Worker, D1, R2, Queues under Miniflare). The
 * transcription runs through the real queue consumer and the OpenAI adapter, pointed (OPENAI_BASE_URL) at a small
 * OpenAI-compatible server on loopback in this process; the CLI runs as a child process, as a user would run it.
 */
import { execFile } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";

import { createVttClient, type Transcription, VttError } from "@vtt/client";
import { encodeWav16 } from "@vtt/pool-contract";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

// plain ESM helper shared with `npm start`
import { freePort, stopAll } from "../scripts/lib/dev-env.mjs";
import { startWranglerDev } from "./support/wrangler-dev.ts";

const ROOT = path.resolve(import.meta.dirname, "..");
const VTT = path.join(ROOT, "packages/client/bin/vtt.js");
const ADMIN = "e2e-admin-key-0123456789abcdef";
/** a prompt that makes the loopback provider refuse the audio, so the job fails with a known code */
const REJECT_PROMPT = "reject-this-audio";
const SPOKEN = "hello from the loopback provider";
let base = "";
let key = "";
let stateDir = "";
let audioFile = "";
let provider: http.Server;
const audioBytes = Buffer.from(
  encodeWav16(
    Float32Array.from({ length: 16_000 }, (_, i) => Math.sin(i / 6) * 0.25),
    16_000,
  ),
);

/** OpenAI's `POST /v1/audio/transcriptions` (verbose_json), and the test audio for `audio_url` submissions. */
function startProvider(): Promise<number> {
  provider = http.createServer((req, res) => {
    if (req.method === "GET" && req.url === "/audio/tone.wav") {
      res.writeHead(200, { "content-type": "audio/wav", "content-length": audioBytes.length });
      return void res.end(audioBytes);
    }
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(chunk));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("latin1");
      if (req.url !== "/v1/audio/transcriptions") return void res.writeHead(404).end();
      if (body.includes(REJECT_PROMPT)) {
        res.writeHead(422, { "content-type": "application/json" });
        return void res.end(JSON.stringify({ error: { message: "cannot decode", type: "invalid_request_error" } }));
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(
        JSON.stringify({
          text: SPOKEN,
          language: "english",
          duration: 1,
          segments: [
            { start: 0, end: 0.5, text: "hello from", avg_logprob: -0.2, no_speech_prob: 0.01 },
            { start: 0.5, end: 1, text: "the loopback provider", avg_logprob: -0.3, no_speech_prob: 0.01 },
          ],
        }),
      );
    });
  });
  return new Promise((resolve) =>
    provider.listen(0, "127.0.0.1", () => resolve((provider.address() as AddressInfo).port)),
  );
}

async function adminJson(pathname: string, body: unknown): Promise<Record<string, string>> {
  const res = await fetch(base + pathname, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN}`, "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  if (res.status !== 201) throw new Error(`${pathname}: ${res.status} ${await res.text()}`);
  return (await res.json()) as Record<string, string>;
}

beforeAll(async () => {
  const providerPort = await startProvider();
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const vars: Record<string, string> = {
    ENVIRONMENT: "development",
    ADMIN_API_KEY: ADMIN,
    PROVIDERS: "openai",
    OPENAI_API_KEY: "sk-e2e-loopback",
    OPENAI_BASE_URL: `http://127.0.0.1:${providerPort}/v1`,
    PUBLIC_BASE_URL: base,
    POOL_URL: "http://127.0.0.1:9",
    POOL_SIGNING_KEYS: "e2e:edge-to-pool",
    POOL_CALLBACK_KEYS: "e2e:pool-to-edge",
    AUDIO_URL_KEYS: "e2e:audio-url",
    ENCRYPTION_KEYS: "e2e:e2e-master-key-0123456789abcdefghijkl",
    RETRY_BASE_SECONDS: "1",
    RETRY_CAP_SECONDS: "2",
  };
  const dev = await startWranglerDev({ label: "client", port, vars });
  stateDir = dev.stateDir;
  audioFile = path.join(stateDir, "tone.wav");
  writeFileSync(audioFile, audioBytes);
  await dev.ready;
  const tenant = await adminJson("/v1/admin/tenants", { name: "e2e-client" });
  key = (await adminJson(`/v1/admin/tenants/${tenant.id}/keys`, {})).key!;
});

afterAll(async () => {
  await stopAll();
  await new Promise((resolve) => provider?.close(resolve));
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  /** wall-clock milliseconds, for the failure message */
  ms?: number;
}

/** The JSON a successful run printed; a failed run fails the test with its exit status, stderr and duration. */
function printedJson<T>(result: CliRun): T {
  expect(result.code, `exit ${result.code} after ${result.ms} ms: ${result.stderr}`).toBe(0);
  return JSON.parse(result.stdout) as T;
}

/** Runs `vtt …` as a child process with its output piped (not a terminal), configured through the environment. */
function vtt(args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const started = Date.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [VTT, ...args],
      // HOME elsewhere: no profile file of whoever runs the tests gets read
      { env: { ...process.env, VTT_API_URL: base, VTT_API_KEY: key, HOME: stateDir, ...env }, timeout: 120_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : 1) : 0;
        resolve({
          code,
          stdout,
          stderr: error?.killed ? `${stderr}(killed: timed out)` : stderr,
          ms: Date.now() - started,
        });
      },
    );
  });
}

describe("the vtt CLI", () => {
  it("transcribe <file> --format srt waits and prints SubRip, with no progress display when piped", async () => {
    const result = await vtt(["transcribe", audioFile, "--format", "srt", "--language", "en"]);
    expect(result, result.stderr).toMatchObject({ code: 0, stderr: "" });
    expect(result.stdout).toMatch(/^1\n00:00:00,000 --> 00:00:00,500\nhello from\n/);
    expect(result.stdout).toContain("the loopback provider");
  });

  it("on a terminal, shows the upload's progress (bytes, rate, ETA) and the job's state on stderr", async (context) => {
    // util-linux `script` gives the CLI a pseudo-terminal; BSD `script` (macOS) takes other arguments
    const hasScript = await new Promise<boolean>((resolve) =>
      execFile("script", ["--version"], (error, stdout) => resolve(!error && stdout.includes("util-linux"))),
    );
    if (!hasScript) context.skip("needs util-linux `script` to run the CLI on a pseudo-terminal");
    const quote = (arg: string) => `'${arg.replaceAll("'", "'\\''")}'`;
    const commandLine = [process.execPath, VTT, "transcribe", audioFile, "--format", "txt"].map(quote).join(" ");
    const screen = await new Promise<CliRun>((resolve) =>
      execFile(
        "script",
        ["-qefc", commandLine, "/dev/null"],
        { env: { ...process.env, VTT_API_URL: base, VTT_API_KEY: key, HOME: stateDir }, timeout: 120_000 },
        (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
      ),
    );
    expect(screen.code, screen.stdout + screen.stderr).toBe(0);
    // the progress line is redrawn in place (carriage return, erase line) and ends at 100 %
    expect(screen.stdout).toContain("\r\x1b[K");
    expect(screen.stdout).toMatch(
      /tone\.wav 100% \[#+\] {2}31\.3 KiB \/ 31\.3 KiB {2}[\d.]+ (B|KiB|MiB|GiB)\/s {2}ETA 0s/,
    );
    expect(screen.stdout).toMatch(/(queued|processing|completed) tr_/);
    expect(screen.stdout).toContain(SPOKEN);
  });

  it("transcribe --no-wait --json, then watch, get, list and delete the job", async () => {
    const submitted = await vtt(["transcribe", audioFile, "--no-wait", "--json", "--metadata", "call=42"]);
    const queued = printedJson<Transcription>(submitted);
    expect(queued).toMatchObject({ object: "transcription", metadata: { call: "42" }, provider: "openai" });

    const watched = await vtt(["watch", queued.id, "--json", "--timeout", "90"]);
    expect(printedJson(watched)).toMatchObject({ id: queued.id, status: "completed", text: SPOKEN });

    const got = await vtt(["get", queued.id]);
    expect(printedJson(got)).toMatchObject({ id: queued.id, status: "completed" });
    const vttText = await vtt(["get", queued.id, "--format", "vtt"]);
    expect(vttText.stdout.startsWith("WEBVTT")).toBe(true);

    const listed = await vtt(["list", "--json", "--limit", "100"]);
    expect(printedJson<{ data: Transcription[] }>(listed).data.map((j) => j.id)).toContain(queued.id);
    const found = await vtt(["list", "--search", '"loopback provider"', "--json"]);
    expect(printedJson<{ data: Transcription[] }>(found).data.map((j) => j.id)).toContain(queued.id);
    const lines = await vtt(["list", "--status", "completed"]);
    expect(lines.stdout.split("\n").find((line) => line.startsWith(queued.id))).toMatch(/completed/);

    const deleted = await vtt(["delete", queued.id]);
    expect(deleted).toMatchObject({ code: 0, stdout: `deleted ${queued.id}\n` });
    const gone = await vtt(["get", queued.id]);
    expect(gone.code).toBe(6);
    expect(gone.stderr).toContain("not_found");
  });

  it("exits non-zero with the code: a failed job (3), a refused option (4), a bad key (5), no server (7)", async () => {
    const failed = await vtt(["transcribe", audioFile, "--prompt", REJECT_PROMPT]);
    expect(failed.code, failed.stderr).toBe(3);
    expect(failed.stderr).toContain("provider_rejected_audio");
    expect(failed.stdout).toBe("");

    const refused = await vtt(["transcribe", audioFile, "--language", "xx", "--json"]);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain("invalid_language");
    expect(JSON.parse(refused.stdout)).toMatchObject({ error: { status: 422, code: "invalid_language" } });

    const badKey = await vtt(["list"], { VTT_API_KEY: "vtt_live_not-a-real-key" });
    expect(badKey.code).toBe(5);
    expect(badKey.stderr).toMatch(/invalid_api_key|unauthenticated/);

    const nobody = await vtt(["list"], { VTT_API_URL: `http://127.0.0.1:${await freePort()}` });
    expect(nobody.code).toBe(7);
    expect(nobody.stderr).toContain("unreachable");

    const unconfigured = await vtt(["list"], { VTT_API_URL: "", VTT_API_KEY: "" });
    expect(unconfigured.code).toBe(2);
  });

  it("npm run transcribe is a thin use of it", async () => {
    const script = path.join(ROOT, "scripts/transcribe.mjs");
    const result = await new Promise<CliRun>((resolve) =>
      execFile(
        process.execPath,
        [script, audioFile, "--format", "vtt", "--url", base, "--key", key],
        { cwd: ROOT, timeout: 120_000 },
        (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
      ),
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^WEBVTT/);
  });

  it("reads the connection from a profile of the config file", async () => {
    const config = path.join(stateDir, "config.json");
    writeFileSync(config, JSON.stringify({ profiles: { e2e: { api_url: base, api_key: key } } }));
    const result = await vtt(["list", "--profile", "e2e", "--limit", "1", "--json"], {
      VTT_API_URL: "",
      VTT_API_KEY: "",
      VTT_CONFIG: config,
    });
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toHaveProperty("data");
  });
});

describe("@vtt/client in Node", () => {
  it("transcribe(file, { wait, onProgress }) uploads with progress and resolves with the finished job", async () => {
    const client = createVttClient({ baseUrl: base, apiKey: key });
    const { openAsBlob } = await import("node:fs");
    const progress: number[] = [];
    const job = await client.transcribe(await openAsBlob(audioFile), {
      wait: true,
      language: "en",
      onProgress: (p) => progress.push(p.sentBytes),
    });
    expect(job).toMatchObject({ status: "completed", text: SPOKEN, audio_bytes: audioBytes.length });
    expect(progress.at(-1)).toBe(audioBytes.length);
    expect(progress.length).toBeGreaterThan(0);
  });

  it("waitFor(id) long-polls until the job is terminal", async () => {
    const client = createVttClient({ baseUrl: base, apiKey: key });
    const queued = await client.transcribe(new Uint8Array(audioBytes));
    const seen: string[] = [];
    const done = await client.waitFor(queued.id, { timeoutMs: 90_000, onUpdate: (job) => seen.push(job.status) });
    expect(done.status).toBe("completed");
    // this server honours the preference waitFor sends (Preference-Applied: wait=N), so it long-polled
    const res = await fetch(`${base}/v1/transcriptions/${queued.id}`, {
      headers: { authorization: `Bearer ${key}`, prefer: "wait=1" },
    });
    expect(res.headers.get("preference-applied")).toBe("wait=1");
    expect(seen.at(-1)).toBe("completed");
  });

  it("throws VttError with the problem's code", async () => {
    const client = createVttClient({ baseUrl: base, apiKey: key });
    const error = await client.get("tr_01JD7Y7W8Q3N5X6T2R9M4K1B0C").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(VttError);
    expect(error).toMatchObject({ status: 404, code: "not_found" });
  });

  it("transcribe(url) and vtt transcribe <url> submit audio_url and the service fetches it", async (context) => {
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, { post?: { requestBody?: { content?: Record<string, unknown> } } }>;
    };
    if (!doc.paths["/v1/transcriptions"]?.post?.requestBody?.content?.["application/json"]) {
      // audio by URL (a JSON body on POST /v1/transcriptions) is not served by this build of the Worker yet
      context.skip("POST /v1/transcriptions has no application/json body in the served document yet");
    }
    const client = createVttClient({ baseUrl: base, apiKey: key });
    const providerPort = (provider.address() as AddressInfo).port;
    const audioUrl = `http://127.0.0.1:${providerPort}/audio/tone.wav`;
    const job = await client.transcribe(audioUrl, { wait: true, audioUrlHeaders: { "x-token": "e2e" } });
    expect(job).toMatchObject({ status: "completed", text: SPOKEN, source: { type: "url", host: "127.0.0.1" } });
    // and the same through the CLI
    const printed = await vtt(["transcribe", audioUrl, "--format", "txt", "--header", "X-Token: e2e"]);
    expect(printed, printed.stderr).toMatchObject({ code: 0, stdout: `${SPOKEN}\n` });
  });
});
