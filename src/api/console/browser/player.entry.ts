/**
 * The transcript page's player: while the audio plays, the current segment (and word, where words exist) is
 * highlighted with `aria-current` and scrolled into view; selecting a segment's time or a word seeks there; keys:
 * Space play/pause, j/k next/previous segment (not while typing in a field).
 */
import "./transcript.css";

import { TRANSCRIPT_DATA_ID, type TranscriptView } from "../views.ts";
import { readIsland } from "./data.ts";
import { onReady } from "./dom.ts";

/** Index of the last span that starts at or before `t` (spans are in time order), or -1. */
export function spanAt(spans: readonly { start: number; end: number }[], t: number): number {
  let lo = 0;
  let hi = spans.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (spans[mid]!.start <= t) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Whether a key press belongs to a field the reader is typing in. */
function typingIn(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName);
}

onReady(() => {
  const view = readIsland<TranscriptView>(TRANSCRIPT_DATA_ID);
  const audio = document.getElementById("player");
  const list = document.getElementById("segments");
  if (!view || !(audio instanceof HTMLAudioElement) || !list) return;
  const segmentElements = [...list.querySelectorAll<HTMLElement>("li[data-segment]")];
  const wordElements = [...list.querySelectorAll<HTMLElement>("[data-word]")];
  let currentSegment = -1;
  let currentWord = -1;

  const mark = (elements: HTMLElement[], from: number, to: number, value: string) => {
    if (from >= 0) elements[from]?.removeAttribute("aria-current");
    if (to >= 0) elements[to]?.setAttribute("aria-current", value);
  };

  const highlight = () => {
    const t = audio.currentTime;
    const segment = spanAt(view.segments, t);
    if (segment !== currentSegment) {
      mark(segmentElements, currentSegment, segment, "true");
      currentSegment = segment;
      segmentElements[segment]?.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
    const word = spanAt(view.words, t);
    const inWord = word >= 0 && t <= view.words[word]!.end;
    const next = inWord ? word : -1;
    if (next !== currentWord) {
      mark(wordElements, currentWord, next, "true");
      currentWord = next;
    }
  };

  const seek = (seconds: number) => {
    audio.currentTime = seconds;
    highlight();
  };

  audio.addEventListener("timeupdate", highlight);
  audio.addEventListener("seeked", highlight);

  list.addEventListener("click", (event) => {
    const target = event.target instanceof Element ? event.target.closest<HTMLElement>("[data-seek]") : null;
    if (!target) return;
    const seconds = Number(target.dataset.seek);
    if (!Number.isFinite(seconds)) return;
    seek(seconds);
    if (audio.paused) void audio.play().catch(() => undefined);
  });

  document.addEventListener("keydown", (event) => {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || typingIn(event.target)) return;
    // a focused button or link keeps Space for itself
    const onControl =
      event.target instanceof HTMLElement && ["BUTTON", "A", "SUMMARY", "AUDIO"].includes(event.target.tagName);
    if (event.key === " " && !onControl) {
      event.preventDefault();
      if (audio.paused) void audio.play().catch(() => undefined);
      else audio.pause();
    } else if (event.key === "j" || event.key === "k") {
      if (!view.segments.length) return;
      event.preventDefault();
      const from = currentSegment < 0 ? (event.key === "j" ? -1 : 0) : currentSegment;
      const to = Math.min(view.segments.length - 1, Math.max(0, from + (event.key === "j" ? 1 : -1)));
      seek(view.segments[to]!.start);
    }
  });
});
