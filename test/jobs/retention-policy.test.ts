import { describe, expect, it } from "vitest";

import {
  DEFAULT_AUDIO_RETENTION_SECONDS,
  MAX_AUDIO_RETENTION_SECONDS,
  resolveRetention,
} from "../../src/jobs/retention-policy.ts";

const tenant = (audio: number | null, transcript: number | null) => ({
  audioRetentionSeconds: audio,
  transcriptRetentionSeconds: transcript,
});

describe("resolveRetention", () => {
  it("keeps transcripts until deleted and audio for the default window when nothing is configured", () => {
    expect(resolveRetention(null, tenant(null, null))).toEqual({
      retainAudioSeconds: DEFAULT_AUDIO_RETENTION_SECONDS,
      retainSeconds: null,
    });
  });
  it("uses the tenant's windows, capping audio at the service maximum", () => {
    expect(resolveRetention(null, tenant(3600, 86_400))).toEqual({ retainAudioSeconds: 3600, retainSeconds: 86_400 });
    expect(resolveRetention(null, tenant(90 * 86_400, null)).retainAudioSeconds).toBe(MAX_AUDIO_RETENTION_SECONDS);
  });
  it("delete_after_seconds overrides the tenant's transcript window and pulls the audio window in with it", () => {
    expect(resolveRetention(600, tenant(3600, 86_400))).toEqual({ retainAudioSeconds: 600, retainSeconds: 600 });
    expect(resolveRetention(0, tenant(null, null))).toEqual({ retainAudioSeconds: 0, retainSeconds: 0 });
    // a longer per-job window does not extend the audio beyond the tenant's audio window
    expect(resolveRetention(30 * 86_400, tenant(3600, 60))).toEqual({
      retainAudioSeconds: 3600,
      retainSeconds: 30 * 86_400,
    });
  });
  it("a transcript window shorter than the audio window deletes the audio with the job", () => {
    expect(resolveRetention(null, tenant(7200, 60))).toEqual({ retainAudioSeconds: 60, retainSeconds: 60 });
  });
});
