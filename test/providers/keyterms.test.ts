import { describe, expect, it } from "vitest";

import { deepgramKeytermParams, parseStoredKeyterms, promptWithKeyterms } from "../../src/providers/keyterms.ts";

describe("promptWithKeyterms", () => {
  it("appends the keyterms to the caller's prompt, comma-separated", () => {
    expect(promptWithKeyterms("A board meeting.", ["Acme", "Jane Doe"], 1000)).toBe("A board meeting. Acme, Jane Doe");
    expect(promptWithKeyterms(null, ["Acme", "Jane Doe"], 1000)).toBe("Acme, Jane Doe");
    expect(promptWithKeyterms("Only a prompt", [], 1000)).toBe("Only a prompt");
    expect(promptWithKeyterms(null, [], 1000)).toBeNull();
  });

  it("never cuts the caller's prompt and leaves out the keyterms that no longer fit", () => {
    const prompt = "p".repeat(990);
    expect(promptWithKeyterms(prompt, ["abcd", "efgh", "ij"], 1000)).toBe(`${prompt} abcd`);
    expect(promptWithKeyterms(prompt, ["abcd", "efgh", "ij"], 1000)!.length).toBeLessThanOrEqual(1000);
    expect(promptWithKeyterms("x".repeat(1000), ["Acme"], 1000)).toBe("x".repeat(1000));
  });
});

describe("deepgramKeytermParams", () => {
  it("sends keyterm (phrases allowed) on Nova-3 and keywords (single words only) on older models", () => {
    expect(deepgramKeytermParams("nova-3", ["Acme", "Jane Doe"])).toEqual([
      ["keyterm", "Acme"],
      ["keyterm", "Jane Doe"],
    ]);
    expect(deepgramKeytermParams("nova-3-medical", ["ibuprofen"])).toEqual([["keyterm", "ibuprofen"]]);
    expect(deepgramKeytermParams("nova-2", ["Acme", "Jane Doe"])).toEqual([["keywords", "Acme"]]);
  });
});

describe("parseStoredKeyterms", () => {
  it("reads the stored JSON array, and treats anything else as no keyterms", () => {
    expect(parseStoredKeyterms('["Acme","Jane Doe"]')).toEqual(["Acme", "Jane Doe"]);
    expect(parseStoredKeyterms(null)).toEqual([]);
    expect(parseStoredKeyterms("not json")).toEqual([]);
    expect(parseStoredKeyterms('{"a":1}')).toEqual([]);
  });
});
