/**
 * Downloading a model file with its SHA-256 checked: streamed to `<file>.partial`, hashed on the way, renamed into
 * place only when the digest matches, so a cache never holds a truncated or tampered model.
 */
import { createHash } from "node:crypto";
import { createWriteStream, existsSync } from "node:fs";
import { mkdir, rename, rm } from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

/** Options for {@link downloadVerified}. */
export interface DownloadOptions {
  url: string;
  sha256: string;
  /** Destination path. */
  file: string;
  fetchImpl?: typeof fetch;
  onProgress?: (receivedBytes: number, totalBytes: number | null) => void;
}

/** Downloads `url` to `file` unless it is already there; throws (and keeps nothing) on a digest mismatch. */
export async function downloadVerified(options: DownloadOptions): Promise<string> {
  if (existsSync(options.file)) return options.file;
  await mkdir(path.dirname(options.file), { recursive: true });
  const response = await (options.fetchImpl ?? fetch)(options.url, { redirect: "follow" });
  if (!response.ok || !response.body) throw new Error(`GET ${options.url} answered ${response.status}`);
  const total = Number(response.headers.get("content-length") ?? Number.NaN);
  const hash = createHash("sha256");
  let received = 0;
  const meter = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      received += chunk.length;
      options.onProgress?.(received, Number.isFinite(total) ? total : null);
      callback(null, chunk);
    },
  });
  const partial = `${options.file}.${process.pid}.partial`;
  try {
    await pipeline(
      Readable.fromWeb(response.body as import("node:stream/web").ReadableStream<Uint8Array>),
      meter,
      createWriteStream(partial),
    );
    const digest = hash.digest("hex");
    if (digest !== options.sha256.toLowerCase()) {
      throw new Error(`SHA-256 mismatch for ${options.url}: expected ${options.sha256}, got ${digest}`);
    }
    await rename(partial, options.file);
    return options.file;
  } finally {
    await rm(partial, { force: true });
  }
}
