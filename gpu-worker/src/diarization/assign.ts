/**
 * Speakers for a transcript from diarization turns (pure): each segment and each word takes the speaker whose turns
 * overlap it most in total; an item no turn overlaps (a word in a pause, a zero-length word) takes the speaker of
 * the nearest turn. The labels are the diarizer's own (`speaker_0`, …); the edge renames them `A`, `B`, … by first
 * appearance (src/domain/speakers.ts), so the pool never has to.
 */

/** A diarization turn, in seconds from the start of the job's audio. */
export interface SpeakerTurn {
  start: number;
  end: number;
  speaker: string;
}

interface Timed {
  start: number;
  end: number;
}

/** The label of the diarizer's speaker number `index` (sherpa-onnx numbers clusters from 0). */
export function speakerName(index: number): string {
  return `speaker_${index}`;
}

function overlap(a: Timed, b: Timed): number {
  return Math.max(0, Math.min(a.end, b.end) - Math.max(a.start, b.start));
}

/** The speaker of one span: most overlap in total, else the nearest turn (by the span's middle); undefined when no turns. */
export function speakerOf(span: Timed, turns: readonly SpeakerTurn[]): string | undefined {
  if (turns.length === 0) return undefined;
  const totals = new Map<string, number>();
  for (const turn of turns) {
    const o = overlap(span, turn);
    if (o > 0) totals.set(turn.speaker, (totals.get(turn.speaker) ?? 0) + o);
  }
  let best: string | undefined;
  let bestTime = 0;
  // Map keeps insertion order: on a tie the speaker whose turn comes first keeps the span
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

/** Turns in time order with their labels; zero-length and inverted turns dropped. */
export function orderTurns(turns: readonly SpeakerTurn[]): SpeakerTurn[] {
  return turns.filter((t) => t.end > t.start).sort((a, b) => a.start - b.start || a.end - b.end);
}

/** Segments and words with `speaker` set from the turns (items keep their order and fields). */
export function assignSpeakers<S extends Timed, W extends Timed>(
  transcript: { segments: S[]; words?: W[] },
  turns: readonly SpeakerTurn[],
): { segments: (S & { speaker?: string })[]; words?: (W & { speaker?: string })[] } {
  const ordered = orderTurns(turns);
  const label = <T extends Timed>(item: T): T & { speaker?: string } => {
    const speaker = speakerOf(item, ordered);
    return speaker === undefined ? item : { ...item, speaker };
  };
  return {
    segments: transcript.segments.map(label),
    ...(transcript.words ? { words: transcript.words.map(label) } : {}),
  };
}
