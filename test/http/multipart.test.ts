import { describe, expect, it } from "vitest";

import {
  boundaryFromContentType,
  MultipartError,
  type MultipartOptions,
  type MultipartPart,
  parseMultipart,
} from "../../src/http/multipart.ts";
import { seededRandom } from "../helpers/random.ts";

const encoder = new TextEncoder();
const BOUNDARY = "----edge-test-7MA4YWxkTrZu0gW";

function bytes(...parts: (string | Uint8Array)[]): Uint8Array {
  const encoded = parts.map((part) => (typeof part === "string" ? encoder.encode(part) : part));
  const out = new Uint8Array(encoded.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of encoded) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Streams `body` in pieces whose sizes come from `nextSize` (a fixed size, or a function of a PRNG). */
function streamOf(body: Uint8Array, nextSize: number | (() => number) = body.length || 1): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= body.length) return controller.close();
      const size = typeof nextSize === "number" ? nextSize : nextSize();
      controller.enqueue(body.slice(offset, offset + size));
      offset += size;
    },
  });
}

async function readAll(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of stream) chunks.push(chunk);
  return bytes(...chunks);
}

type Collected =
  | { kind: "field"; name: string; value: string }
  | { kind: "file"; name: string; filename: string | null; contentType: string | null; data: Uint8Array };

/** Runs the parser to the end, reading every file part in full. */
async function collect(
  body: ReadableStream<Uint8Array>,
  boundary = BOUNDARY,
  options?: MultipartOptions,
): Promise<Collected[]> {
  const out: Collected[] = [];
  for await (const part of parseMultipart(body, boundary, options)) {
    if (part.kind === "field") out.push(part);
    else
      out.push({
        kind: "file",
        name: part.name,
        filename: part.filename,
        contentType: part.contentType,
        data: await readAll(part.stream),
      });
  }
  return out;
}

async function expectMultipartError(promise: Promise<unknown>, code: MultipartError["code"]): Promise<MultipartError> {
  const error = await promise.then(
    () => expect.unreachable("expected a MultipartError"),
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(MultipartError);
  expect((error as MultipartError).code).toBe(code);
  return error as MultipartError;
}

function part(headers: string, content: string | Uint8Array): Uint8Array {
  return bytes(`--${BOUNDARY}\r\n${headers}\r\n\r\n`, content, "\r\n");
}

const field = (name: string, value: string) => part(`Content-Disposition: form-data; name="${name}"`, value);
const closing = `--${BOUNDARY}--\r\n`;

/** Binary content full of near-misses: dashes, CRLFs, and every proper prefix of the delimiter. */
function trickyBinary(seed: number, length: number): Uint8Array {
  const random = seededRandom(seed);
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  const delimiter = encoder.encode(`\r\n--${BOUNDARY}`);
  for (let cut = 1, at = 0; cut < delimiter.length && at + cut < length; cut += 3, at += cut + 7) {
    out.set(delimiter.subarray(0, cut), at);
  }
  out.set(encoder.encode("--\r\n--\r\n\r\n"), Math.max(0, length - 10));
  return out;
}

describe("boundaryFromContentType", () => {
  it.each([
    ["multipart/form-data; boundary=abc123", "abc123"],
    ['multipart/form-data; boundary="quoted boundary:with=specials"', "quoted boundary:with=specials"],
    ["Multipart/Form-Data; charset=utf-8; BOUNDARY=----WebKitFormBoundaryX3b", "----WebKitFormBoundaryX3b"],
    [`multipart/form-data;boundary=${"b".repeat(70)}`, "b".repeat(70)],
  ])("reads %s", (header, expected) => {
    expect(boundaryFromContentType(header)).toBe(expected);
  });

  it.each([
    [null],
    [undefined],
    [""],
    ["application/json"],
    ["multipart/mixed; boundary=abc"],
    ["multipart/form-data"],
    ["multipart/form-data; boundary="],
    [`multipart/form-data; boundary=${"b".repeat(71)}`],
    ['multipart/form-data; boundary="ends with space "'],
    ["multipart/form-data; boundary=semi\u00e9colon"],
    ['multipart/form-data; boundary="unbalanced'],
    ["multipart/form-data; boundary=a; boundary=b"],
  ])("refuses %s", (header) => {
    expect(boundaryFromContentType(header)).toBeNull();
  });
});

describe("parseMultipart", () => {
  it("parses fields and a file, ignoring preamble and epilogue", async () => {
    const audio = bytes("RIFF", new Uint8Array([0, 1, 2, 0xff, 0x0d, 0x0a, 0x2d, 0x2d]));
    const body = bytes(
      "This preamble is ignored.\r\n",
      field("language", "en"),
      part('Content-Disposition: form-data; name="file"; filename="talk.wav"\r\nContent-Type: audio/wav', audio),
      field("prompt", "line one\r\nline two — ünïcode"),
      closing,
      "epilogue, also ignored",
    );
    expect(await collect(streamOf(body))).toEqual([
      { kind: "field", name: "language", value: "en" },
      { kind: "file", name: "file", filename: "talk.wav", contentType: "audio/wav", data: audio },
      { kind: "field", name: "prompt", value: "line one\r\nline two — ünïcode" },
    ]);
  });

  it("parses what the runtime's own FormData encoder produces", async () => {
    const audio = trickyBinary(7, 5000);
    const form = new FormData();
    form.append("language", "de");
    form.append("metadata", JSON.stringify({ title: 'Grüße "quoted"' }));
    form.append("file", new File([audio], 'Grüße "x".wav', { type: "audio/wav" }));
    const encoded = new Response(form);
    const boundary = boundaryFromContentType(encoded.headers.get("content-type"));
    expect(boundary).not.toBeNull();
    const parts = await collect(encoded.body!, boundary!);
    expect(parts).toHaveLength(3);
    expect(parts[0]).toEqual({ kind: "field", name: "language", value: "de" });
    expect(parts[1]).toEqual({ kind: "field", name: "metadata", value: '{"title":"Grüße \\"quoted\\""}' });
    expect(parts[2]).toMatchObject({ kind: "file", name: "file", contentType: "audio/wav" });
    // browsers percent-encode a double quote in file names (HTML spec); either way the name is kept, not mangled
    expect((parts[2] as { filename: string }).filename).toMatch(/^Grüße (%22|")x(%22|")\.wav$/);
    expect((parts[2] as { data: Uint8Array }).data).toEqual(audio);
  });

  it("gives the same parts however the body is chunked (1-byte and 60 random chunkings)", async () => {
    const file = trickyBinary(42, 2048);
    const body = bytes(
      field("model", "large-v3"),
      part(
        'Content-Disposition: form-data; name="file"; filename="a.bin"\r\nContent-Type: application/octet-stream',
        file,
      ),
      field("empty", ""),
      closing,
    );
    const expected: Collected[] = [
      { kind: "field", name: "model", value: "large-v3" },
      { kind: "file", name: "file", filename: "a.bin", contentType: "application/octet-stream", data: file },
      { kind: "field", name: "empty", value: "" },
    ];
    expect(await collect(streamOf(body, 1))).toEqual(expected);
    for (let seed = 1; seed <= 60; seed++) {
      const random = seededRandom(seed);
      const maxChunk = [2, 7, 50, 300, 5000][seed % 5]!;
      const parts = await collect(streamOf(body, () => 1 + Math.floor(random() * maxChunk)));
      expect(parts, `seed ${seed}`).toEqual(expected);
    }
  });

  it("keeps a body that starts directly with the boundary, accepts transport padding, and an empty file", async () => {
    const body = bytes(
      `--${BOUNDARY} \t\r\nContent-Disposition: form-data; name="file"; filename=""\r\n\r\n\r\n`,
      `--${BOUNDARY}--`,
    );
    expect(await collect(streamOf(body, 3))).toEqual([
      { kind: "file", name: "file", filename: null, contentType: null, data: new Uint8Array() },
    ]);
  });

  it("decodes RFC 5987 filename* in preference to filename, and keeps backslashes in quoted names", async () => {
    let index = 0;
    const disposition = (params: string) => part(`Content-Disposition: form-data; name="f${index++}"; ${params}`, "x");
    const body = bytes(
      disposition(`filename="fallback.wav"; filename*=UTF-8''%E2%82%AC%20rates.wav`),
      disposition(`filename*=iso-8859-1'en'caf%E9.mp3`),
      disposition(`filename*=UTF-8''%ZZbad; filename="plain.ogg"`),
      disposition(`filename="C:\\new\\a \\"b\\".wav"`),
      disposition(`FILENAME=token.flac`),
      closing,
    );
    const names = (await collect(streamOf(body, 11))).map(
      (collected) => (collected as { filename: string | null }).filename,
    );
    expect(names).toEqual(["€ rates.wav", "café.mp3", "plain.ogg", 'C:\\new\\a "b".wav', "token.flac"]);
  });

  it("streams file bytes without buffering the part: O(chunk + boundary) held at any time", async () => {
    const CHUNK = 64 * 1024;
    const FILE_BYTES = 8 * 1024 * 1024;
    const head = encoder.encode(
      `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="big.raw"\r\n\r\n`,
    );
    const tail = encoder.encode(`\r\n--${BOUNDARY}--\r\n`);
    const byteAt = (position: number) => (position ^ (position >>> 8) ^ (position >>> 16)) & 0xff;
    let produced = 0; // file bytes handed to the parser so far
    let stage = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (stage === 0) {
            controller.enqueue(head);
            stage = 1;
          } else if (produced < FILE_BYTES) {
            const chunk = new Uint8Array(CHUNK);
            for (let i = 0; i < CHUNK; i++) chunk[i] = byteAt(produced + i);
            produced += CHUNK;
            controller.enqueue(chunk);
          } else if (stage === 1) {
            controller.enqueue(tail);
            stage = 2;
          } else {
            controller.close();
          }
        },
      },
      { highWaterMark: 0 }, // no read-ahead, so `produced` is exactly what the parser asked for
    );
    let received = 0;
    let maxHeldBack = 0;
    let maxChunk = 0;
    for await (const filePart of parseMultipart(body, BOUNDARY)) {
      expect(filePart.kind).toBe("file");
      if (filePart.kind !== "file") continue;
      for await (const chunk of filePart.stream) {
        for (let i = 0; i < chunk.length; i++) {
          if (chunk[i] !== byteAt(received + i)) expect.unreachable(`byte ${received + i} differs`);
        }
        received += chunk.length;
        maxChunk = Math.max(maxChunk, chunk.length);
        maxHeldBack = Math.max(maxHeldBack, produced - received);
      }
    }
    expect(received).toBe(FILE_BYTES);
    const delimiterLength = `\r\n--${BOUNDARY}`.length;
    expect(maxChunk).toBeLessThanOrEqual(CHUNK + delimiterLength);
    expect(maxHeldBack).toBeLessThanOrEqual(CHUNK + delimiterLength);
  });

  describe("malformed bodies", () => {
    it("errors the file stream when the body ends before the closing boundary", async () => {
      const body = bytes(part('Content-Disposition: form-data; name="file"; filename="a.wav"', "")).subarray(0, -2);
      const truncated = bytes(body, "RIFF....WAVE and then the client went away");
      const parts = parseMultipart(streamOf(truncated, 5), BOUNDARY);
      const first = await parts.next();
      expect(first.done).toBe(false);
      const filePart = first.value as Extract<MultipartPart, { kind: "file" }>;
      await expectMultipartError(readAll(filePart.stream), "malformed_multipart");
      await expectMultipartError(parts.next(), "malformed_multipart");
    });

    it.each([
      ["a field cut short", bytes(field("language", "en")).subarray(0, -4)],
      ["a delimiter with nothing after it", bytes(field("language", "en"), `--${BOUNDARY}`)],
      ["no closing boundary at all", bytes(field("language", "en"))],
      ["headers cut short", bytes(`--${BOUNDARY}\r\nContent-Disposition: form-da`)],
      ["a body that is not multipart", encoder.encode('{"language":"en","file":"aGVsbG8="}')],
      ["an empty body", new Uint8Array()],
      [
        "LF-only line endings",
        encoder.encode(`--${BOUNDARY}\nContent-Disposition: form-data; name="a"\n\nx\n--${BOUNDARY}--\n`),
      ],
      ["a boundary lookalike with extra characters", bytes(field("a", "x"), `--${BOUNDARY}X\r\n`)],
      ["a part without Content-Disposition", bytes(part("Content-Type: text/plain", "x"), closing)],
      ["a part without headers", bytes(`--${BOUNDARY}\r\n\r\nx\r\n`, closing)],
      ["a non-form-data disposition", bytes(part('Content-Disposition: attachment; name="a"', "x"), closing)],
      ["a disposition without a name", bytes(part('Content-Disposition: form-data; filename="a.wav"', "x"), closing)],
      ["a header line without a colon", bytes(part('Content-Disposition: form-data; name="a"\r\nbogus', "x"), closing)],
      [
        "two Content-Disposition headers",
        bytes(
          part('Content-Disposition: form-data; name="a"\r\nContent-Disposition: form-data; name="b"', "x"),
          closing,
        ),
      ],
      ["an unbalanced quote in the disposition", bytes(part('Content-Disposition: form-data; name="a', "x"), closing)],
      [
        "an undecodable filename* with no fallback",
        bytes(part("Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''%FF", "x"), closing),
      ],
      [
        "a field that is not UTF-8",
        bytes(part('Content-Disposition: form-data; name="a"', new Uint8Array([0xc3, 0x28])), closing),
      ],
    ])("rejects %s with malformed_multipart", async (_name, body) => {
      await expectMultipartError(collect(streamOf(body, 4)), "malformed_multipart");
    });

    it("rejects an invalid boundary argument", async () => {
      await expectMultipartError(collect(streamOf(bytes(closing)), ""), "malformed_multipart");
      await expectMultipartError(collect(streamOf(bytes(closing)), "x".repeat(71)), "malformed_multipart");
    });

    it("stops reading a non-multipart body after maxHeaderBytes instead of scanning all of it", async () => {
      let pulls = 0;
      const endless = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulls++;
          controller.enqueue(encoder.encode("not multipart ".repeat(73))); // ~1 KiB
        },
      });
      await expectMultipartError(collect(endless, BOUNDARY, { maxHeaderBytes: 4096 }), "malformed_multipart");
      expect(pulls).toBeLessThanOrEqual(6);
    });

    it("throws only MultipartError for truncated, corrupted and spliced bodies (600 seeded mutations)", async () => {
      const valid = bytes(
        field("language", "en"),
        part("Content-Disposition: form-data; name=\"file\"; filename*=UTF-8''%C3%A9.wav", trickyBinary(3, 300)),
        closing,
      );
      // Outcomes are counted so the test cannot pass by accepting everything (or by rejecting everything).
      const outcomes = new Map<string, number>();
      const parse = async (label: string, body: Uint8Array, random: () => number, options?: MultipartOptions) => {
        let outcome = "accepted";
        try {
          await collect(
            streamOf(body, () => 1 + Math.floor(random() * 40)),
            BOUNDARY,
            options,
          );
        } catch (error) {
          expect(error, label).toBeInstanceOf(MultipartError);
          outcome = (error as MultipartError).code;
        }
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      };
      for (let seed = 1; seed <= 200; seed++) {
        const random = seededRandom(seed);
        const body = valid.slice(0, 1 + Math.floor(random() * valid.length));
        for (let flips = Math.floor(random() * 4); flips > 0; flips--)
          body[Math.floor(random() * body.length)] = Math.floor(random() * 256);
        await parse(`truncated, seed ${seed}`, body, random);
      }
      for (let seed = 1; seed <= 200; seed++) {
        const random = seededRandom(seed);
        const body = valid.slice();
        for (let flips = 1 + Math.floor(random() * 3); flips > 0; flips--)
          body[Math.floor(random() * body.length)] = Math.floor(random() * 256);
        await parse(`corrupted, seed ${seed}`, body, random);
      }
      // A slice of the body repeated elsewhere duplicates parts and grows fields, so the limit checks take part too.
      for (let seed = 1; seed <= 200; seed++) {
        const random = seededRandom(seed);
        const from = Math.floor(random() * valid.length);
        const to = from + Math.floor(random() * (valid.length - from));
        const at = Math.floor(random() * valid.length);
        const body = bytes(valid.subarray(0, at), valid.subarray(from, to), valid.subarray(at));
        await parse(`spliced, seed ${seed}`, body, random, { maxFields: 3, maxFieldBytes: 64 });
      }
      expect(outcomes.get("accepted")).toBeGreaterThanOrEqual(50);
      expect(outcomes.get("malformed_multipart")).toBeGreaterThanOrEqual(50);
      expect([...outcomes.keys()].sort()).toEqual([
        "accepted",
        "duplicate_file",
        "field_too_large",
        "malformed_multipart",
      ]);
    });
  });

  describe("limits", () => {
    it("rejects more parts than maxFields", async () => {
      const body = bytes(field("a", "1"), field("b", "2"), field("c", "3"), closing);
      await expectMultipartError(collect(streamOf(body), BOUNDARY, { maxFields: 2 }), "too_many_fields");
      expect(await collect(streamOf(body), BOUNDARY, { maxFields: 3 })).toHaveLength(3);
    });

    it("rejects a field larger than maxFieldBytes, counting bytes not characters", async () => {
      const body = bytes(field("prompt", "ééé"), closing); // 6 bytes of UTF-8
      await expectMultipartError(collect(streamOf(body, 1), BOUNDARY, { maxFieldBytes: 5 }), "field_too_large");
      expect(await collect(streamOf(body, 1), BOUNDARY, { maxFieldBytes: 6 })).toEqual([
        { kind: "field", name: "prompt", value: "ééé" },
      ]);
    });

    it("rejects part headers larger than maxHeaderBytes", async () => {
      const body = bytes(
        part(`Content-Disposition: form-data; name="a"\r\nX-Padding: ${"p".repeat(200)}`, "x"),
        closing,
      );
      await expectMultipartError(collect(streamOf(body, 16), BOUNDARY, { maxHeaderBytes: 128 }), "malformed_multipart");
      expect(await collect(streamOf(body, 16), BOUNDARY, { maxHeaderBytes: 512 })).toHaveLength(1);
    });

    it("rejects two file parts with the same name", async () => {
      const file = (name: string) => part(`Content-Disposition: form-data; name="${name}"; filename="x.wav"`, "RIFF");
      const body = bytes(file("file"), file("file"), closing);
      await expectMultipartError(collect(streamOf(body)), "duplicate_file");
      expect(await collect(streamOf(bytes(file("file"), file("other"), closing)))).toHaveLength(2);
    });
  });

  describe("consumer control", () => {
    const twoParts = () =>
      bytes(
        part('Content-Disposition: form-data; name="file"; filename="a.bin"', trickyBinary(9, 4000)),
        field("after", "still parsed"),
        closing,
      );

    it("skips the rest of a file part whose stream the consumer cancelled", async () => {
      const seen: string[] = [];
      for await (const current of parseMultipart(streamOf(twoParts(), 100), BOUNDARY)) {
        if (current.kind === "file") {
          const reader = current.stream.getReader();
          expect((await reader.read()).value?.length).toBeGreaterThan(0);
          await reader.cancel();
          seen.push("file");
        } else {
          seen.push(`${current.name}=${current.value}`);
        }
      }
      expect(seen).toEqual(["file", "after=still parsed"]);
    });

    it("skips an unread file part when the next part is pulled, erroring its stream", async () => {
      const parts = parseMultipart(streamOf(twoParts(), 100), BOUNDARY);
      const first = (await parts.next()).value as Extract<MultipartPart, { kind: "file" }>;
      expect(await parts.next()).toEqual({
        done: false,
        value: { kind: "field", name: "after", value: "still parsed" },
      });
      await expectMultipartError(readAll(first.stream), "malformed_multipart");
      expect((await parts.next()).done).toBe(true);
    });

    it("cancels the body when the consumer leaves the loop early", async () => {
      let cancelled = false;
      const inner = streamOf(twoParts(), 100).getReader();
      const body = new ReadableStream<Uint8Array>({
        async pull(controller) {
          const { done, value } = await inner.read();
          if (done) controller.close();
          else controller.enqueue(value);
        },
        cancel() {
          cancelled = true;
        },
      });
      for await (const current of parseMultipart(body, BOUNDARY)) {
        expect(current.kind).toBe("file");
        break;
      }
      expect(cancelled).toBe(true);
    });

    it("passes an error of the body stream itself through unchanged (an interrupted upload, not a malformed one)", async () => {
      const disconnect = new Error("client disconnected");
      let sent = false;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (sent) return controller.error(disconnect);
          sent = true;
          controller.enqueue(
            bytes(`--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n\r\nRIFF`),
          );
        },
      });
      for await (const current of parseMultipart(body, BOUNDARY)) {
        if (current.kind !== "file") continue;
        await expect(readAll(current.stream)).rejects.toBe(disconnect);
        break;
      }
    });
  });
});
