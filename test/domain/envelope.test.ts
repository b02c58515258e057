import { describe, expect, it } from "vitest";

import {
  createOpener,
  createSealer,
  EnvelopeError,
  openBytes,
  openField,
  openStream,
  parseMasterKeys,
  sealBytes,
  sealedSize,
  sealField,
  SEGMENT_BYTES,
} from "../../src/domain/envelope.ts";

const m1 = parseMasterKeys("m1:first-master-secret-0123456789abcdef");
const rotated = parseMasterKeys("m2:second-master-secret-0123456789abcdef,m1:first-master-secret-0123456789abcdef");

function patterned(n: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = (i * 31 + (i >> 8)) & 0xff;
  return out;
}

function streamOf(bytes: Uint8Array, chunk: number): ReadableStream<Uint8Array> {
  let at = 0;
  return new ReadableStream({
    pull(c) {
      if (at >= bytes.byteLength) return c.close();
      c.enqueue(bytes.slice(at, at + chunk));
      at += chunk;
    },
  });
}

const readAll = async (stream: ReadableStream<Uint8Array>) => new Uint8Array(await new Response(stream).arrayBuffer());

describe("master key ring", () => {
  it("parses version:secret pairs and rejects short secrets or odd versions", () => {
    expect(rotated.map((k) => k.version)).toEqual(["m2", "m1"]);
    expect(() => parseMasterKeys("m1:short")).toThrow(EnvelopeError);
    expect(() => parseMasterKeys("bad version:0123456789abcdef0123456789abcdef")).toThrow(/version/);
    expect(() => parseMasterKeys("nocolon")).toThrow(EnvelopeError);
    expect(parseMasterKeys(undefined)).toEqual([]);
  });
});

describe("sealed objects", () => {
  it.each([0, 1, SEGMENT_BYTES - 1, SEGMENT_BYTES, SEGMENT_BYTES + 1, 3 * SEGMENT_BYTES + 17])(
    "round-trips %i bytes, in one piece and as a stream",
    async (n) => {
      const plain = patterned(n);
      const { header, sealed } = await sealBytes(m1, "ten_a", "audio/ten_a/tr_1", plain);
      expect(sealed.byteLength).toBe(sealedSize(n));
      expect(header).toMatchObject({ enc: "a256gcm-stream-1", kv: "m1" });
      expect(await openBytes(m1, "ten_a", "audio/ten_a/tr_1", header, sealed)).toEqual(plain);
      const opener = await createOpener(m1, "ten_a", "audio/ten_a/tr_1", header);
      // odd read sizes straddle segment boundaries
      expect(await readAll(openStream(opener, streamOf(sealed, 7919)))).toEqual(plain);
    },
  );

  it("never stores a plaintext run and uses a fresh data key per object", async () => {
    const plain = new TextEncoder().encode("RIFF----WAVEfmt the same secret words ".repeat(200));
    const a = await sealBytes(m1, "ten_a", "k", plain);
    const b = await sealBytes(m1, "ten_a", "k", plain);
    const text = new TextDecoder("latin1").decode(a.sealed);
    expect(text).not.toContain("RIFF");
    expect(text).not.toContain("secret words");
    expect(a.header.dek).not.toBe(b.header.dek);
    expect(a.sealed).not.toEqual(b.sealed);
  });

  it("fails on a flipped byte, a dropped or swapped segment and a truncated tail", async () => {
    const plain = patterned(3 * SEGMENT_BYTES + 100);
    const { header, sealed } = await sealBytes(m1, "ten_a", "k", plain);
    const seg = SEGMENT_BYTES + 16;
    const flipped = sealed.slice();
    flipped[seg + 5]! ^= 1;
    const dropped = new Uint8Array([...sealed.subarray(0, seg), ...sealed.subarray(2 * seg)]);
    const swapped = new Uint8Array([
      ...sealed.subarray(seg, 2 * seg),
      ...sealed.subarray(0, seg),
      ...sealed.subarray(2 * seg),
    ]);
    const truncatedAtBoundary = sealed.slice(0, 3 * seg);
    const truncatedMidSegment = sealed.slice(0, sealed.byteLength - 40);
    for (const bad of [flipped, dropped, swapped, truncatedAtBoundary, truncatedMidSegment]) {
      await expect(openBytes(m1, "ten_a", "k", header, bad)).rejects.toMatchObject({ reason: "corrupt" });
      const opener = await createOpener(m1, "ten_a", "k", header);
      await expect(readAll(openStream(opener, streamOf(bad, 65536)))).rejects.toBeInstanceOf(EnvelopeError);
    }
  });

  it("binds the data key to the tenant and the object key", async () => {
    const { header } = await sealBytes(m1, "ten_a", "audio/ten_a/tr_1", patterned(10));
    await expect(createOpener(m1, "ten_b", "audio/ten_a/tr_1", header)).rejects.toMatchObject({ reason: "corrupt" });
    await expect(createOpener(m1, "ten_a", "audio/ten_a/tr_2", header)).rejects.toMatchObject({ reason: "corrupt" });
  });

  it("keeps old objects readable after the master rotates, and seals new ones with the newest version", async () => {
    const old = await sealBytes(m1, "ten_a", "k", patterned(1000));
    expect(await openBytes(rotated, "ten_a", "k", old.header, old.sealed)).toEqual(patterned(1000));
    const fresh = await sealBytes(rotated, "ten_a", "k2", patterned(1000));
    expect(fresh.header.kv).toBe("m2");
    // once m1 is retired, its objects no longer open (re-wrap before removing a version)
    const m2Only = rotated.slice(0, 1);
    await expect(openBytes(m2Only, "ten_a", "k", old.header, old.sealed)).rejects.toMatchObject({
      reason: "unknown_key_version",
    });
  });

  it("refuses to seal without a master key and rejects non-segment-aligned middle parts", async () => {
    await expect(createSealer([], "ten_a", "k")).rejects.toMatchObject({ reason: "no_master_key" });
    const sealer = await createSealer(m1, "ten_a", "k");
    await expect(sealer.sealPart(patterned(1000), false)).rejects.toThrow(/multiple/);
  });
});

describe("sealed fields", () => {
  it("round-trips text bound to its context; legacy plaintext passes through", async () => {
    const value = await sealField(m1, "ten_a", "transcriptions.text:tr_1", "hello wörld");
    expect(value).toMatch(/^enc1\.m1\./);
    expect(value).not.toContain("hello");
    expect(await openField(rotated, "ten_a", "transcriptions.text:tr_1", value)).toBe("hello wörld");
    await expect(openField(m1, "ten_a", "transcriptions.text:tr_2", value)).rejects.toMatchObject({
      reason: "corrupt",
    });
    await expect(openField(m1, "ten_b", "transcriptions.text:tr_1", value)).rejects.toMatchObject({
      reason: "corrupt",
    });
    expect(await openField(m1, "ten_a", "x", "written before encryption")).toBe("written before encryption");
  });
});
