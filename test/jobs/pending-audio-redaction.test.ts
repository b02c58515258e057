/** `pending_audio_redaction` as the row stores it: written by the pool callback, read back by the queue consumer. */
import { describe, expect, it } from "vitest";

import { serialisePendingAudioRedaction, storedPendingAudioRedaction } from "../../src/jobs/redaction-options.ts";

describe("pending_audio_redaction", () => {
  it("round-trips the result id, the entity counts and the unrounded spans", () => {
    const pending = {
      resultId: "01JAAAAAAAAAAAAAAAAAAAAAAA",
      entities: { phone_number: 1, email_address: 2 },
      spans: [
        { start: 0.95, end: 1.6500000000000001 },
        { start: 2.1234567, end: 2.9 },
      ],
    };
    const text = serialisePendingAudioRedaction(pending);
    expect(JSON.parse(text)).toEqual({
      result_id: pending.resultId,
      entities: pending.entities,
      spans: [
        [0.95, 1.6500000000000001],
        [2.1234567, 2.9],
      ],
    });
    expect(storedPendingAudioRedaction(text)).toEqual(pending);
  });

  it("reads nothing pending from null, and null from a value it never writes", () => {
    expect(storedPendingAudioRedaction(null)).toBeNull();
    for (const text of [
      "",
      "not json",
      "[]",
      '{"spans": []}',
      '{"result_id": 7, "spans": []}',
      '{"result_id": "r", "spans": [[1]]}',
      '{"result_id": "r", "spans": [["1", 2]]}',
      '{"result_id": "r", "spans": {"0": [1, 2]}}',
    ])
      expect(storedPendingAudioRedaction(text)).toBeNull();
    // entities that are not an object read as none: counts are informational
    expect(storedPendingAudioRedaction('{"result_id": "r", "entities": 3, "spans": [[1, 2]]}')).toEqual({
      resultId: "r",
      entities: {},
      spans: [{ start: 1, end: 2 }],
    });
  });
});
