import { expect, it } from "vitest";
import { parseKeyRing } from "../../src/domain/signing.ts";
it("imports shared domain code", () => {
  expect(parseKeyRing("k1:a")).toEqual([{ id: "k1", secret: "a" }]);
});
