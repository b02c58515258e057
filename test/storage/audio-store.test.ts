import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import { ApiError } from "../../src/http/problem.ts";
import { storeAudioStream } from "../../src/storage/audio-store.ts";
import { chunkedStream, makeWav } from "../helpers/audio.ts";

describe("storeAudioStream (real R2)", () => {
  it("writes across several multipart parts and reads back identical bytes", async () => {
    // R2 (and Miniflare) require parts of at least 5 MiB except the last: 11.4 MB → 2 full parts + a tail
    const wav = makeWav(356);
    const stored = await storeAudioStream(env.BUCKET, "t/multi", chunkedStream(wav, 64 * 1024), { maxBytes: 20_000_000, partBytes: 5 * 1024 * 1024 });
    expect(stored).toEqual({ bytes: wav.byteLength, audio: { format: "wav", contentType: "audio/wav" } });
    const object = await env.BUCKET.get("t/multi");
    expect(object!.size).toBe(wav.byteLength);
    const digest = async (bytes: ArrayBuffer | Uint8Array<ArrayBuffer>) => new Uint8Array(await crypto.subtle.digest("SHA-256", bytes)).join(",");
    expect(await digest(await object!.arrayBuffer())).toBe(await digest(wav));
  });

  it("aborts past maxBytes mid-stream with 413 and leaves no object", async () => {
    const wav = makeWav(5);
    const error = await storeAudioStream(env.BUCKET, "t/big", chunkedStream(wav, 1000), { maxBytes: 50_000, partBytes: 20_000 }).catch((e) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).status).toBe(413);
    expect(await env.BUCKET.head("t/big")).toBeNull();
  });

  it("rejects non-audio before writing anything", async () => {
    const bytes = new TextEncoder().encode("RIFF....WAVEfmt but really just a text file pretending to be a wav");
    const error = await storeAudioStream(env.BUCKET, "t/fake", chunkedStream(bytes, 3), { maxBytes: 1e6, partBytes: 1e6 }).catch((e) => e);
    expect((error as ApiError).code).toBe("unsupported_audio");
    expect(await env.BUCKET.head("t/fake")).toBeNull();
  });

  it("propagates a broken client stream and aborts the partial upload", async () => {
    const wav = makeWav(2);
    let sent = 0;
    const broken = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent > 40_000) return controller.error(new Error("client disconnected"));
        controller.enqueue(wav.slice(sent, sent + 10_000));
        sent += 10_000;
      },
    });
    await expect(storeAudioStream(env.BUCKET, "t/broken", broken, { maxBytes: 1e7, partBytes: 20_000 })).rejects.toThrow("client disconnected");
    expect(await env.BUCKET.head("t/broken")).toBeNull();
  });
});
