/**
 * Speaker labels, the same shape from every source (pure: no bindings). Sources give speakers as they name them —
 * Deepgram's integers, OpenAI's letters, the pool's cluster ids, a channel index — and this module turns them into
 * `"A"`, `"B"`, … in order of first appearance, assigns speakers to words by time overlap, merges per-channel
 * transcripts by time and sums each speaker's talk time.
 */

/** Most speakers a job may ask for (`speakers_expected`, `min_speakers`, `max_speakers`). */
export const MAX_SPEAKERS = 32;

/**
 * What a job asked for. `labels`: diarize (who spoke when); `multichannel`: the channels are the speakers. Never
 * both (validated up front). The counts are hints for diarizers that take them; null when not given.
 */
export interface SpeakerOptions {
  labels: boolean;
  expected: number | null;
  min: number | null;
  max: number | null;
  multichannel: boolean;
}

/** A timed piece of a transcript that may carry a speaker (segments and words both fit). */
export interface Timed {
  start: number;
  end: number;
  speaker?: string;
}

/** A speaker's turn as a diarizer reports it: who spoke from `start` to `end` (seconds). */
export interface SpeakerTurn {
  start: number;
  end: number;
  speaker: string;
}

/** One speaker of a job: its label and how long it spoke (the union of its segments' spans, seconds). */
export interface SpeakerSummary {
  label: string;
  talk_time_seconds: number;
}

/** The parts of a transcript this module reads and rewrites. */
export interface SpeakerTranscript<S extends Timed = Timed, W extends Timed = Timed> {
  text: string;
  segments: (S & Timed & { text: string })[];
  words?: (W & Timed & { word: string })[];
}

/** `A`…`Z`, then `AA`, `AB`, … (spreadsheet columns): never runs out, never repeats. */
export function speakerLabel(index: number): string {
  if (!Number.isInteger(index) || index < 0) throw new RangeError(`speaker index must be a whole number, got ${index}`);
  let label = "";
  let n = index;
  do {
    label = String.fromCharCode(65 + (n % 26)) + label;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return label;
}

/** Items in time order (by start, then end); a stable sort, so equal times keep their order. */
function byTime<T extends Timed>(items: readonly T[]): T[] {
  return items
    .map((item, index) => ({ item, index }))
    .sort((a, b) => a.item.start - b.item.start || a.item.end - b.item.end || a.index - b.index)
    .map(({ item }) => item);
}

/**
 * Renames the speakers of segments and words to `A`, `B`, … in order of first appearance in time (segments and words
 * together, so a speaker heard first in a word keeps its place). Items without a speaker stay without one.
 */
export function relabelSpeakers<S extends Timed & { text: string }, W extends Timed & { word: string }>(
  transcript: SpeakerTranscript<S, W>,
): SpeakerTranscript<S, W> {
  const labels = new Map<string, string>();
  const all: Timed[] = byTime([...transcript.segments, ...(transcript.words ?? [])]);
  for (const item of all) {
    if (item.speaker !== undefined && !labels.has(item.speaker)) labels.set(item.speaker, speakerLabel(labels.size));
  }
  const rename = <T extends Timed>(item: T): T =>
    item.speaker === undefined ? item : { ...item, speaker: labels.get(item.speaker)! };
  return {
    ...transcript,
    segments: transcript.segments.map(rename),
    ...(transcript.words ? { words: transcript.words.map(rename) } : {}),
  };
}

function overlap(a: Timed, b: Timed): number {
  return Math.max(0, Math.min(a.end, b.end) - Math.max(a.start, b.start));
}

/**
 * The speaker of a span: the turn speaker with the most time overlapping it (summed over that speaker's turns); with
 * no overlap, the speaker of the nearest turn (a word in a pause between turns); undefined without turns. Ties go to
 * the speaker heard first.
 */
export function speakerAt(span: Timed, turns: readonly SpeakerTurn[]): string | undefined {
  if (turns.length === 0) return undefined;
  const totals = new Map<string, number>();
  for (const turn of turns) {
    const o = overlap(span, turn);
    if (o > 0) totals.set(turn.speaker, (totals.get(turn.speaker) ?? 0) + o);
  }
  let best: string | undefined;
  let bestTime = 0;
  for (const [speaker, time] of totals) {
    if (time > bestTime) {
      best = speaker;
      bestTime = time;
    }
  }
  if (best !== undefined) return best;
  const middle = (span.start + span.end) / 2;
  let nearest = turns[0]!;
  let distance = Infinity;
  for (const turn of turns) {
    const d = middle < turn.start ? turn.start - middle : middle > turn.end ? middle - turn.end : 0;
    if (d < distance) {
      nearest = turn;
      distance = d;
    }
  }
  return nearest.speaker;
}

/** Each item with the speaker of {@link speakerAt}; items keep their order. */
export function assignSpeakers<T extends Timed>(items: readonly T[], turns: readonly SpeakerTurn[]): T[] {
  const ordered = byTime(turns);
  return items.map((item) => {
    const speaker = speakerAt(item, ordered);
    return speaker === undefined ? item : { ...item, speaker };
  });
}

/**
 * A segment's speaker from its words: the speaker who holds most of the segment's word time (words overlapping the
 * segment); the segment's own overlap with the words' spans decides when no word lies inside it.
 */
export function segmentSpeakersFromWords<S extends Timed>(segments: readonly S[], words: readonly Timed[]): S[] {
  const turns = words.filter((w): w is SpeakerTurn => w.speaker !== undefined);
  return assignSpeakers(segments, turns);
}

/**
 * Diarizer turns applied to a transcript: words get the speaker they overlap most, segments the speaker of most of
 * their words (or of the turns themselves when there are no words). Labels are not yet renamed (see
 * {@link finaliseSpeakers}).
 */
export function applySpeakerTurns<S extends Timed & { text: string }, W extends Timed & { word: string }>(
  transcript: SpeakerTranscript<S, W>,
  turns: readonly SpeakerTurn[],
): SpeakerTranscript<S, W> {
  if (transcript.words?.length) {
    const words = assignSpeakers(transcript.words, turns);
    return { ...transcript, words, segments: segmentSpeakersFromWords(transcript.segments, words) };
  }
  return { ...transcript, segments: assignSpeakers(transcript.segments, turns) };
}

/**
 * Per-channel transcripts (channel = speaker) as one transcript: segments and words tagged with their channel's
 * speaker id (`ch0`, `ch1`, …, renamed by {@link finaliseSpeakers}), merged by start time; the text is the merged
 * segments' texts in that order.
 */
export function mergeChannels<S extends Timed & { text: string }, W extends Timed & { word: string }>(
  channels: readonly SpeakerTranscript<S, W>[],
): SpeakerTranscript<S, W> {
  const tag = <T extends Timed>(items: readonly T[], channel: number): T[] =>
    items.map((item) => ({ ...item, speaker: `ch${channel}` }));
  const segments = byTime(channels.flatMap((c, i) => tag(c.segments, i)));
  const anyWords = channels.some((c) => c.words !== undefined);
  const words = anyWords ? byTime(channels.flatMap((c, i) => tag(c.words ?? [], i))) : undefined;
  const text = segments
    .map((s) => s.text.trim())
    .filter(Boolean)
    .join(" ");
  return { text, segments, ...(words ? { words } : {}) };
}

/**
 * Each speaker's talk time: the union of its segments' spans (overlapping segments of one speaker count once),
 * rounded to milliseconds, in label order of first appearance. Segments without a speaker are not counted.
 */
export function talkTimes(segments: readonly Timed[]): SpeakerSummary[] {
  const spans = new Map<string, Timed[]>();
  for (const segment of byTime(segments)) {
    if (segment.speaker === undefined) continue;
    const list = spans.get(segment.speaker) ?? [];
    list.push(segment);
    spans.set(segment.speaker, list);
  }
  return [...spans].map(([label, list]) => {
    let total = 0;
    let openStart = -Infinity;
    let openEnd = -Infinity;
    for (const { start, end } of list) {
      const s = Math.max(0, start);
      const e = Math.max(s, end);
      if (s > openEnd) {
        if (openEnd > openStart) total += openEnd - openStart;
        openStart = s;
        openEnd = e;
      } else openEnd = Math.max(openEnd, e);
    }
    if (openEnd > openStart) total += openEnd - openStart;
    return { label, talk_time_seconds: Math.round(total * 1000) / 1000 };
  });
}

/** Relabels (`A`, `B`, … by first appearance) and sums talk time: what every source ends with. */
export function finaliseSpeakers<S extends Timed & { text: string }, W extends Timed & { word: string }>(
  transcript: SpeakerTranscript<S, W>,
): SpeakerTranscript<S, W> & { speakers: SpeakerSummary[] } {
  const relabelled = relabelSpeakers(transcript);
  return { ...relabelled, speakers: talkTimes(relabelled.segments) };
}

/** Consecutive segments of one speaker joined: the turns `A: …` of a plain-text transcript. */
export function speakerTurnsText(
  segments: readonly (Timed & { text: string })[],
): { speaker?: string; text: string }[] {
  const turns: { speaker?: string; text: string }[] = [];
  for (const segment of segments) {
    const text = segment.text.trim();
    if (text === "") continue;
    const last = turns.at(-1);
    if (last && last.speaker === segment.speaker) last.text = `${last.text} ${text}`;
    else turns.push({ ...(segment.speaker !== undefined ? { speaker: segment.speaker } : {}), text });
  }
  return turns;
}
