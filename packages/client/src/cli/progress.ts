/** Upload progress for a terminal: bytes, rate and ETA on one line of stderr, redrawn in place (TTY only). */
import type { UploadProgress } from "../upload.ts";

const UNITS = ["B", "KiB", "MiB", "GiB", "TiB"];

/** 1536 → "1.5 KiB": three significant digits, binary units. */
export function formatBytes(bytes: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  if (unit === 0) return `${value} B`;
  return `${value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)} ${UNITS[unit]}`;
}

/** Whole seconds as "45s", "2m05s", "1h02m". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export interface ProgressLineInput extends UploadProgress {
  label: string;
  elapsedMs: number;
  /** columns of the bar itself */
  barWidth?: number;
}

/**
 * `talk.mp3  42% [########------------]  4.20 MiB / 10.0 MiB  1.50 MiB/s  ETA 4s`; without a total, the bytes and
 * rate only. The rate is the average since the upload began.
 */
export function progressLine({ label, sentBytes, totalBytes, elapsedMs, barWidth = 20 }: ProgressLineInput): string {
  const rate = elapsedMs > 0 ? (sentBytes * 1000) / elapsedMs : 0;
  const rateText = `${formatBytes(Math.round(rate))}/s`;
  if (totalBytes === null || totalBytes <= 0) return `${label}  ${formatBytes(sentBytes)}  ${rateText}`;
  const fraction = Math.min(1, sentBytes / totalBytes);
  const filled = Math.round(fraction * barWidth);
  const bar = `[${"#".repeat(filled)}${"-".repeat(barWidth - filled)}]`;
  const left = Math.max(0, totalBytes - sentBytes);
  const eta = left === 0 ? "0s" : rate > 0 ? formatDuration(left / rate) : "?";
  const percent = `${Math.floor(fraction * 100)}%`.padStart(4);
  return `${label} ${percent} ${bar}  ${formatBytes(sentBytes)} / ${formatBytes(totalBytes)}  ${rateText}  ETA ${eta}`;
}

/** A status line on a TTY: each `update` replaces the last one; on anything else it prints nothing. */
export class StatusLine {
  readonly #stream: NodeJS.WriteStream;
  readonly #enabled: boolean;
  #lastDrawMs = 0;
  #drawn = false;

  constructor(stream: NodeJS.WriteStream, enabled = stream.isTTY === true) {
    this.#stream = stream;
    this.#enabled = enabled;
  }

  /** Redraws, at most every `minIntervalMs` unless `force` (the final state is always drawn). */
  update(text: string, { force = false, minIntervalMs = 100 } = {}): void {
    if (!this.#enabled) return;
    const now = Date.now();
    if (!force && now - this.#lastDrawMs < minIntervalMs) return;
    this.#lastDrawMs = now;
    // a pseudo-terminal without a size reports 0 columns: treat it as unknown rather than cut every line to nothing
    const columns = this.#stream.columns || 120;
    this.#stream.write(`\r\x1b[K${text.slice(0, Math.max(10, columns - 1))}`);
    this.#drawn = true;
  }

  /** Clears the line, so what follows starts at column 0. */
  clear(): void {
    if (this.#enabled && this.#drawn) this.#stream.write("\r\x1b[K");
    this.#drawn = false;
  }
}
