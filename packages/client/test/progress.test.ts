import { describe, expect, it } from "vitest";

import { formatBytes, formatDuration, progressLine } from "../src/cli/progress.ts";

describe("progress display", () => {
  it("formats bytes in binary units with three significant digits", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.50 KiB");
    expect(formatBytes(12.34 * 1024 * 1024)).toBe("12.3 MiB");
    expect(formatBytes(250 * 1024 * 1024)).toBe("250 MiB");
    expect(formatBytes(3 * 1024 ** 3)).toBe("3.00 GiB");
  });

  it("formats durations as seconds, minutes or hours", () => {
    expect(formatDuration(4.4)).toBe("4s");
    expect(formatDuration(125)).toBe("2m05s");
    expect(formatDuration(3725)).toBe("1h02m");
  });

  it("shows percentage, bar, bytes, rate and ETA", () => {
    const mib = 1024 * 1024;
    const line = progressLine({
      label: "talk.mp3",
      sentBytes: 4 * mib,
      totalBytes: 10 * mib,
      elapsedMs: 2000,
      barWidth: 10,
    });
    // 4 MiB in 2 s is 2 MiB/s; 6 MiB left is 3 s
    expect(line).toBe("talk.mp3  40% [####------]  4.00 MiB / 10.0 MiB  2.00 MiB/s  ETA 3s");
  });

  it("says ETA 0s once everything is sent, even before any time has passed", () => {
    expect(progressLine({ label: "a", sentBytes: 10, totalBytes: 10, elapsedMs: 0, barWidth: 4 })).toBe(
      "a 100% [####]  10 B / 10 B  0 B/s  ETA 0s",
    );
  });

  it("shows bytes and rate only when the total is unknown", () => {
    expect(progressLine({ label: "stdin", sentBytes: 2048, totalBytes: null, elapsedMs: 1000 })).toBe(
      "stdin  2.00 KiB  2.00 KiB/s",
    );
  });
});
