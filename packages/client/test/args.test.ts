import { describe, expect, it } from "vitest";

import { parseCommand, UsageError } from "../src/cli/args.ts";

describe("parseCommand", () => {
  it("reads transcribe with its options, waiting and printing txt by default", () => {
    expect(parseCommand(["transcribe", "talk.mp3"])).toMatchObject({
      name: "transcribe",
      input: "talk.mp3",
      format: "txt",
      wait: true,
      json: false,
    });
    const command = parseCommand([
      "transcribe",
      "https://media.example.com/a.wav",
      "--format",
      "srt",
      "--no-wait",
      "--json",
      "--language",
      "de",
      "--metadata",
      "call=42",
      "--metadata",
      "team=a=b",
      "--delete-after",
      "3600",
      "--header",
      "Authorization: Bearer abc",
      "--url",
      "http://127.0.0.1:8787",
      "--profile",
      "local",
    ]);
    expect(command).toMatchObject({
      name: "transcribe",
      format: "srt",
      wait: false,
      json: true,
      audioUrlHeaders: { Authorization: "Bearer abc" },
      fields: { language: "de", metadata: { call: "42", team: "a=b" }, delete_after_seconds: 3600 },
      connection: { url: "http://127.0.0.1:8787", profile: "local" },
    });
  });

  it("reads get, list, delete and watch", () => {
    expect(parseCommand(["get", "tr_1", "--format", "vtt"])).toMatchObject({ name: "get", id: "tr_1", format: "vtt" });
    expect(parseCommand(["list", "--status", "failed", "--limit", "5", "--all"])).toMatchObject({
      name: "list",
      status: "failed",
      limit: 5,
      all: true,
    });
    expect(parseCommand(["delete", "tr_1", "tr_2"])).toMatchObject({ name: "delete", ids: ["tr_1", "tr_2"] });
    expect(parseCommand(["watch", "tr_1", "--timeout", "30"])).toMatchObject({ name: "watch", timeoutSeconds: 30 });
  });

  it("answers help and version", () => {
    expect(parseCommand([])).toEqual({ name: "help" });
    expect(parseCommand(["list", "--help"])).toEqual({ name: "help" });
    expect(parseCommand(["--version"])).toEqual({ name: "version" });
  });

  it.each([
    [["nope"], /unknown command/],
    [["transcribe"], /one audio file/],
    [["transcribe", "a.wav", "b.wav"], /one audio file/],
    [["transcribe", "a.wav", "--format", "docx"], /--format must be one of txt, srt, vtt, json/],
    [["transcribe", "a.wav", "--wait", "--no-wait"], /contradict/],
    [["transcribe", "a.wav", "--metadata", "novalue"], /name=value/],
    [["transcribe", "a.wav", "--delete-after", "1.5"], /whole number/],
    [["transcribe", "a.wav", "--colour"], /Unknown option/],
    [["list", "--status", "done"], /--status must be one of/],
    [["list", "--limit", "0"], /--limit must be a whole number ≥ 1/],
    [["delete"], /at least one job id/],
  ])("refuses %j", (argv, message) => {
    expect(() => parseCommand(argv)).toThrow(UsageError);
    expect(() => parseCommand(argv)).toThrow(message);
  });
});
