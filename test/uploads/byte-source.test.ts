/**
 * The tus path's byte sources (src/uploads/byte-source.ts) inside workerd: a PATCH body's refusals and digest, and
 * the sealed stream R2 reads a part from, opened again through the envelope.
 */
import { describe, expect, it } from "vitest";

import { createOpener, createSealer, openStream, parseMasterKeys, sealedSize } from "../../src/domain/envelope.ts";
import {
  arraySource,
  type ByteSource,
  concatSources,
  limitedSource,
  PatchBody,
  sealedStream,
  SourceGone,
  streamSource,
} from "../../src/uploads/byte-source.ts";

const ring = parseMasterKeys("m1:first-master-secret-0123456789abcdef");

const bytes = (n: number, seed = 7) => Uint8Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff);

function chunked(data: Uint8Array, chunk: number, failAfter = Infinity): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(controller) {
      if (at >= failAfter) return controller.error(new Error("connection reset"));
      if (at >= data.byteLength) return controller.close();
      controller.enqueue(data.slice(at, at + chunk));
      at += chunk;
    },
  });
}

async function drain(source: ByteSource, max = 1000): Promise<Uint8Array> {
  const out: number[] = [];
  for (let chunk = await source.read(max); chunk; chunk = await source.read(max)) {
    expect(chunk.byteLength).toBeLessThanOrEqual(max);
    out.push(...chunk);
  }
  return Uint8Array.from(out);
}

const options = { start: 0, length: 10_000, limit: 10_000, digest: false };

describe("PatchBody", () => {
  it("hands the body out in pieces of at most `max`, counting what it read and handed out", async () => {
    const data = bytes(5000);
    const body = new PatchBody(chunked(data, 1500), options);
    expect(await drain(body, 700)).toEqual(data);
    expect(body.received).toBe(5000);
    expect(body.consumed).toBe(5000);
    expect(body.failure).toBeNull();
    expect(body.finished).toBe(true);
  });

  it("peek reads ahead without handing out: the same bytes are read afterwards", async () => {
    const data = bytes(5000);
    const body = new PatchBody(chunked(data, 1000), options);
    expect(await body.peek(2500)).toEqual(data.slice(0, 2500));
    expect(body.consumed).toBe(0);
    expect(await drain(body)).toEqual(data);
  });

  it("refuses the network chunk that passes Upload-Length or the PATCH limit, and a cut connection", async () => {
    const past = new PatchBody(chunked(bytes(5000), 1000), { ...options, start: 7000 });
    expect((await drain(past)).byteLength).toBe(3000);
    expect(past.failure).toMatchObject({ status: 413, code: "exceeds_upload_length" });

    const big = new PatchBody(chunked(bytes(5000), 1000), { ...options, limit: 2500 });
    expect((await drain(big)).byteLength).toBe(2000);
    expect(big.failure).toMatchObject({ status: 413, code: "chunk_too_large" });

    const cut = new PatchBody(chunked(bytes(5000), 1000, 3000), options);
    expect((await drain(cut)).byteLength).toBe(3000);
    expect(cut.failure).toMatchObject({ status: 400, code: "body_interrupted" });
  });

  it("hashes what it read (Upload-Checksum)", async () => {
    const data = bytes(4321);
    const body = new PatchBody(chunked(data, 1000), { ...options, digest: true });
    await drain(body);
    expect(await body.sha256()).toEqual(new Uint8Array(await crypto.subtle.digest("SHA-256", data)));
  });
});

describe("sources", () => {
  it("limitedSource, concatSources, arraySource and streamSource join and cut bytes in order", async () => {
    const a = bytes(3000, 1);
    const b = bytes(2000, 2);
    const joined = concatSources([
      async () => arraySource([a.slice(0, 1000), a.slice(1000)]),
      async () => limitedSource(streamSource(chunked(b, 300)), 1500),
    ]);
    expect(await drain(joined, 256)).toEqual(Uint8Array.from([...a, ...b.slice(0, 1500)]));
  });
});

describe("sealedStream", () => {
  async function roundTrip(plain: Uint8Array, chunk: number) {
    const sealer = await createSealer(ring, "t1", "audio/t1/x");
    const sealed = sealedStream(sealer, streamSource(chunked(plain, chunk)), plain.byteLength, true);
    const stored = new Uint8Array(await new Response(sealed.stream).arrayBuffer());
    expect(stored.byteLength).toBe(sealedSize(plain.byteLength));
    const opener = await createOpener(ring, "t1", "audio/t1/x", sealer.header);
    return new Uint8Array(await new Response(openStream(opener, chunked(stored, 10_000))).arrayBuffer());
  }

  it("seals exactly the bytes asked for, segment by segment, and they open again", async () => {
    const plain = bytes(3 * 65536 + 123);
    expect(await roundTrip(plain, 7777)).toEqual(plain);
    expect(await roundTrip(bytes(65536), 65536)).toEqual(bytes(65536));
  });

  it("errors with SourceGone ran_dry when the source ends first, and says so", async () => {
    const sealer = await createSealer(ring, "t1", "audio/t1/y");
    const sealed = sealedStream(sealer, streamSource(chunked(bytes(1000), 100)), 70_000, true);
    await expect(new Response(sealed.stream).arrayBuffer()).rejects.toThrow();
    expect(sealed.failure()).toBeInstanceOf(SourceGone);
    expect((sealed.failure() as SourceGone).reason).toBe("ran_dry");
  });
});
