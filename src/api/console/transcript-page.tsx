/**
 * The tenant's transcript page (`/console/transcripts/:id`): the job, its audio player, the transcript by segment and
 * word, downloads, feedback with an inline correction, and delete. Server-rendered; the `player` and `feedback`
 * browser modules add live highlighting, seeking, keyboard control and the diff view (docs/console.md).
 */
import type { z } from "@hono/zod-openapi";

import type { TranscriptionRow } from "../../storage/schema.ts";
import type { TranscriptDocumentSchema } from "../schemas.ts";
import { DataIsland } from "./data-island.tsx";
import { Shell, Time } from "./pages.tsx";
import { EXPORT_FORMATS } from "./transcript-export.ts";
import { LOW_CONFIDENCE_THRESHOLD, TRANSCRIPT_DATA_ID, type TranscriptView } from "./views.ts";

export type TranscriptDoc = z.infer<typeof TranscriptDocumentSchema>;
type Segment = TranscriptDoc["segments"][number];
/** words may carry a speaker label where the provider diarises */
type Word = NonNullable<TranscriptDoc["words"]>[number] & { speaker?: string };

/** A bundled asset's URL (src/api/console/browser → assets.generated.ts), e.g. the CSS a module's build emits. */
export const assetPath = (name: string) => `/console/assets/${name}`;

/** The formats a transcript downloads in, as the API's `?format=` names them. */
export const DOWNLOAD_FORMATS = EXPORT_FORMATS;

/** A review already stored for the job (the repository row's figures). */
export interface StoredReview {
  rating: "good" | "bad";
  wer: number | null;
  cer: number | null;
}

export interface TranscriptPageProps {
  tenantName: string;
  csrfToken: string;
  job: TranscriptionRow;
  /** the stored transcript, when the job completed and it is still stored */
  doc: TranscriptDoc | null;
  review: StoredReview | null;
  canReview: boolean;
  canDelete: boolean;
}

/** `[PHONE_NUMBER]`-style placeholders that redaction puts in place of what it removed. */
const REDACTION = /(\[[A-Z][A-Z_]*\])/;

/** Text with its redaction placeholders marked. */
function Redacted(props: { text: string }) {
  const parts = props.text.split(REDACTION);
  return (
    <>
      {parts.map((part, i) =>
        i % 2 === 1 ? (
          <mark class="redaction" title="Redacted">
            {part}
          </mark>
        ) : (
          part
        ),
      )}
    </>
  );
}

export const formatClock = (seconds: number): string => {
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const mm = String(m).padStart(h ? 2 : 1, "0");
  return `${h ? `${h}:` : ""}${mm}:${String(s).padStart(2, "0")}`;
};

/** Each segment's words: a word belongs to the last segment that starts at or before it. */
export function wordsBySegment(segments: readonly Segment[], words: readonly Word[]): Word[][] {
  const grouped: Word[][] = segments.map(() => []);
  if (!segments.length) return grouped;
  let s = 0;
  for (const word of [...words].sort((a, b) => a.start - b.start)) {
    while (s + 1 < segments.length && segments[s + 1]!.start <= word.start) s++;
    grouped[s]!.push(word);
  }
  return grouped;
}

const percent = (rate: number | null) => (rate === null ? "n/a" : `${(rate * 100).toFixed(1)} %`);

function JobFacts(props: { job: TranscriptionRow; doc: TranscriptDoc | null }) {
  const { job, doc } = props;
  return (
    <dl class="facts">
      <dt>Id</dt>
      <dd>
        <code>{job.id}</code>
      </dd>
      <dt>Status</dt>
      <dd data-testid="status">{job.status}</dd>
      <dt>Created</dt>
      <dd>
        <Time ms={job.createdAt} />
      </dd>
      <dt>File name</dt>
      <dd>{job.fileName ?? ""}</dd>
      <dt>Duration</dt>
      <dd>{job.durationSeconds === null ? "" : `${job.durationSeconds.toFixed(1)} s`}</dd>
      <dt>Provider</dt>
      <dd>
        {job.provider}
        {doc?.model ? ` (${doc.model})` : ""}
      </dd>
      <dt>Language</dt>
      <dd>{doc?.language ?? job.language ?? ""}</dd>
      <dt>Metadata</dt>
      <dd data-testid="metadata">{job.metadata ?? ""}</dd>
      {job.errorMessage ? (
        <>
          <dt>Error</dt>
          <dd>
            {job.errorCode ? <code>{job.errorCode}</code> : null} {job.errorMessage}
          </dd>
        </>
      ) : null}
    </dl>
  );
}

function Player(props: { job: TranscriptionRow }) {
  const { job } = props;
  if (job.audioKey) {
    return (
      <section aria-labelledby="audio-heading">
        <h2 id="audio-heading">Audio</h2>
        <audio id="player" controls preload="metadata" src={`/console/transcripts/${job.id}/audio`}>
          Your browser cannot play this audio; download the transcript instead.
        </audio>
        <p class="muted">
          Keys: <kbd>Space</kbd> play or pause, <kbd>j</kbd> next segment, <kbd>k</kbd> previous segment. Select a
          segment's time or a word to hear it.
        </p>
      </section>
    );
  }
  return (
    <section aria-labelledby="audio-heading">
      <h2 id="audio-heading">Audio</h2>
      <p class="note" data-testid="audio-purged">
        {job.audioPurgedAt !== null ? (
          <>
            The audio was deleted on <Time ms={job.audioPurgedAt} /> when its retention window ended; the transcript
            remains.
          </>
        ) : (
          "No audio is stored for this job."
        )}
      </p>
    </section>
  );
}

function SegmentList(props: { doc: TranscriptDoc }) {
  const { segments } = props.doc;
  const grouped = wordsBySegment(segments, props.doc.words ?? []);
  let wordIndex = 0;
  let lastSpeaker: string | undefined;
  return (
    <ol class="segments" id="segments" data-testid="segments">
      {segments.map((segment, i) => {
        const showSpeaker = segment.speaker !== undefined && segment.speaker !== lastSpeaker;
        lastSpeaker = segment.speaker ?? lastSpeaker;
        const words = grouped[i]!;
        return (
          <li class="segment" data-segment={String(i)} data-start={String(segment.start)}>
            <button
              type="button"
              class="seek"
              data-seek={String(segment.start)}
              aria-label={`Play from ${formatClock(segment.start)}`}
            >
              {formatClock(segment.start)}
            </button>
            {showSpeaker ? <span class="speaker">{segment.speaker}</span> : null}
            <span class="text">
              {words.length ? (
                words.map((word) => {
                  const low = word.confidence !== undefined && word.confidence < LOW_CONFIDENCE_THRESHOLD;
                  const index = wordIndex++;
                  return (
                    <>
                      {word.speaker !== undefined && word.speaker !== segment.speaker ? (
                        <span class="speaker">{word.speaker}</span>
                      ) : null}
                      <span
                        class={low ? "word low-confidence" : "word"}
                        data-word={String(index)}
                        data-seek={String(word.start)}
                        title={low ? `Low confidence (${Math.round(word.confidence! * 100)} %)` : undefined}
                      >
                        <Redacted text={word.word} />
                      </span>{" "}
                    </>
                  );
                })
              ) : (
                <Redacted text={segment.text} />
              )}
            </span>
          </li>
        );
      })}
    </ol>
  );
}

function Feedback(props: {
  job: TranscriptionRow;
  doc: TranscriptDoc;
  review: StoredReview | null;
  canReview: boolean;
  csrfToken: string;
}) {
  const { job, doc, review } = props;
  return (
    <section aria-labelledby="feedback-heading">
      <h2 id="feedback-heading">Feedback</h2>
      <p role="status" id="feedback-result" data-testid="feedback-result">
        {review
          ? `Your review: ${review.rating}. WER ${percent(review.wer)}, CER ${percent(review.cer)}.`
          : "Not reviewed yet."}
      </p>
      {props.canReview ? (
        <form method="post" action={`/console/transcripts/${job.id}/feedback`} id="feedback-form">
          <input type="hidden" name="csrf_token" value={props.csrfToken} />
          <fieldset>
            <legend>Rating</legend>
            <label class="inline">
              <input type="radio" name="rating" value="good" checked={review?.rating !== "bad"} /> Good
            </label>
            <label class="inline">
              <input type="radio" name="rating" value="bad" checked={review?.rating === "bad"} /> Bad
            </label>
          </fieldset>
          <label for="reason">Reason (optional)</label>
          <input id="reason" name="reason" type="text" maxlength={500} autocomplete="off" />
          <label for="corrected_text">Corrected text</label>
          <textarea id="corrected_text" name="corrected_text" rows={6} spellcheck>
            {doc.text}
          </textarea>
          <h3 id="diff-heading">What changed</h3>
          <div id="diff" class="diff" aria-labelledby="diff-heading" aria-live="polite" data-testid="diff">
            <span class="muted">No changes yet.</span>
          </div>
          <p>
            <button type="submit">Submit feedback</button>
          </p>
        </form>
      ) : (
        <p class="muted">Reviewing needs a key with the admin scope; this session's key has none.</p>
      )}
    </section>
  );
}

function Delete(props: { job: TranscriptionRow; csrfToken: string }) {
  return (
    <section aria-labelledby="delete-heading">
      <h2 id="delete-heading">Delete</h2>
      <details class="danger">
        <summary>Delete this transcript…</summary>
        <form method="post" action={`/console/transcripts/${props.job.id}/delete`}>
          <input type="hidden" name="csrf_token" value={props.csrfToken} />
          <p>This deletes the job, its transcript, its audio and its review. It cannot be undone.</p>
          <button type="submit" class="danger" data-testid="delete-confirm">
            Delete permanently
          </button>
        </form>
      </details>
    </section>
  );
}

export function TranscriptPage(props: TranscriptPageProps) {
  const { job, doc } = props;
  const view: TranscriptView | null = doc
    ? {
        jobId: job.id,
        text: doc.text,
        segments: doc.segments.map((s) => ({ start: s.start, end: s.end })),
        words: wordsBySegment(doc.segments, doc.words ?? [])
          .flat()
          .map((w) => ({ start: w.start, end: w.end })),
        feedbackAction: `/console/transcripts/${job.id}/feedback`,
      }
    : null;
  return (
    <Shell title="Transcript" who={props.tenantName} csrfToken={props.csrfToken} scripts={["player", "feedback"]}>
      <link rel="stylesheet" href={assetPath("player.css")} />
      <p>
        <a href="/console">← All transcripts</a> · <a href="/console/transcripts/quality">Quality over time</a>
      </p>
      <JobFacts job={job} doc={doc} />
      <Player job={job} />
      {doc && view ? (
        <>
          <section aria-labelledby="transcript-heading">
            <h2 id="transcript-heading">Transcript</h2>
            <p class="downloads">
              Download:{" "}
              {DOWNLOAD_FORMATS.map((format) => (
                <>
                  <a href={`/console/transcripts/${job.id}/transcript?format=${format}`} download data-format={format}>
                    {format}
                  </a>{" "}
                </>
              ))}
            </p>
            <p class="muted legend">
              <span class="word low-confidence">Underlined words</span> were recognised with a confidence below{" "}
              {Math.round(LOW_CONFIDENCE_THRESHOLD * 100)} %; <mark class="redaction">[LABELS]</mark> stand for redacted
              text.
            </p>
            <SegmentList doc={doc} />
          </section>
          <Feedback job={job} doc={doc} review={props.review} canReview={props.canReview} csrfToken={props.csrfToken} />
          <DataIsland id={TRANSCRIPT_DATA_ID} value={view} />
        </>
      ) : (
        <p class="note">
          {job.status === "completed"
            ? "The transcript is no longer stored."
            : `The job is ${job.status}; its transcript appears here once it completes.`}
        </p>
      )}
      {props.canDelete ? <Delete job={job} csrfToken={props.csrfToken} /> : null}
    </Shell>
  );
}

export function NotFoundPage(props: { tenantName: string; csrfToken: string }) {
  return (
    <Shell title="Not found" who={props.tenantName} csrfToken={props.csrfToken}>
      <p>This tenant has no transcript with that id.</p>
      <p>
        <a href="/console">← All transcripts</a>
      </p>
    </Shell>
  );
}
