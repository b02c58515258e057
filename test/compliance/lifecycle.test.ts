import { describe, expect, it } from "vitest";

import lifecycle from "../../infra/r2/lifecycle.json";
import { MAX_AUDIO_RETENTION_SECONDS } from "../../src/jobs/retention-policy.ts";

interface Rule {
  id: string;
  enabled: boolean;
  conditions: { prefix: string };
  deleteObjectsTransition?: { condition: { type: string; maxAge: number } };
  abortMultipartUploadsTransition?: { condition: { type: string; maxAge: number } };
}

const rules = (lifecycle as { rules: Rule[] }).rules;

describe("infra/r2/lifecycle.json (retention backstop)", () => {
  it("deletes audio only after the longest retention the service allows, plus a day for the job to finish", () => {
    const audio = rules.find((r) => r.conditions.prefix === "audio/" && r.deleteObjectsTransition)!;
    expect(audio.enabled).toBe(true);
    expect(audio.deleteObjectsTransition!.condition.type).toBe("Age");
    expect(audio.deleteObjectsTransition!.condition.maxAge).toBeGreaterThanOrEqual(
      MAX_AUDIO_RETENTION_SECONDS + 86_400,
    );
    // and not much later, or it is no backstop
    expect(audio.deleteObjectsTransition!.condition.maxAge).toBeLessThanOrEqual(
      MAX_AUDIO_RETENTION_SECONDS + 3 * 86_400,
    );
  });

  it("never expires transcripts (tenants may keep them until deleted) and aborts abandoned multipart uploads", () => {
    expect(rules.some((r) => r.deleteObjectsTransition && "transcripts/".startsWith(r.conditions.prefix))).toBe(false);
    expect(rules.some((r) => r.conditions.prefix === "" && r.abortMultipartUploadsTransition)).toBe(true);
  });
});
