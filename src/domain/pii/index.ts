/** PII detection and redaction (pure): entity types, detectors, one orchestrator, transcript redaction. */
export { detectPii, mergeSpans, PII_DETECTORS } from "./detect.ts";
export { DEEPGRAM_REDACT_ENTITIES } from "./provider-labels.ts";
export type { RedactableTranscript, RedactedTimeSpan, RedactionResult } from "./redact.ts";
export { redactPieces, redactText, redactTranscript, substitute } from "./redact.ts";
export type { PiiEntityType, PiiRedactionOptions, PiiSpan, PiiSubstitution } from "./types.ts";
export { isPiiEntityType, PII_ENTITY_TYPES, PII_SUBSTITUTIONS } from "./types.ts";
