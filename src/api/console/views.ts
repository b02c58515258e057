/**
 * The JSON the console's pages embed for their browser modules, in a `<script type="application/json">` data island
 * (not executable, so the CSP holds). Pure types, shared by the server pages and src/api/console/browser; each field
 * is derived from the API's types (src/api/schemas.ts) or the repositories' rows.
 */

/** The id of the transcript page's data island. */
export const TRANSCRIPT_DATA_ID = "transcript-data";
/** The id of the quality page's data island. */
export const QUALITY_DATA_ID = "quality-data";

/**
 * Words below this confidence are marked as uncertain on the transcript page (docs/console.md). Providers that report
 * word confidence (Deepgram, Whisper word probabilities) put most clearly spoken words above 0.8.
 */
export const LOW_CONFIDENCE_THRESHOLD = 0.6;

/** What the transcript page's modules need: the segment and word times, and the text a correction starts from. */
export interface TranscriptView {
  jobId: string;
  /** the transcript's text as stored (the correction's starting point and the diff's left side) */
  text: string;
  segments: { start: number; end: number }[];
  /** word times, in the order the page renders them (words are grouped into their segments) */
  words: { start: number; end: number }[];
  /** where the feedback form posts (urlencoded, with the CSRF token) */
  feedbackAction: string;
}

/** A point of the tenant's quality chart: one ISO week. */
export interface QualityPoint {
  /** `YYYY-Www` */
  week: string;
  /** Monday 00:00 UTC of the week, seconds since the epoch (the chart's x) */
  weekStart: number;
  reviews: number;
  good: number;
  bad: number;
  /** mean WER / CER of the week's scored reviews, in [0, ∞); null when none was scored */
  meanWer: number | null;
  meanCer: number | null;
}

export interface QualityView {
  points: QualityPoint[];
}

/** What the console's feedback route answers to the feedback module (the API's FeedbackSchema fields it shows). */
export interface FeedbackOutcome {
  wer: number | null;
  cer: number | null;
  reference_words: number | null;
  rating: "good" | "bad";
  replaced: boolean;
}

/** A refused console request, as JSON (the module shows `detail`). */
export interface ConsoleProblem {
  code: string;
  detail: string;
}
