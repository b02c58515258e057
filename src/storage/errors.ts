/**
 * Storage raises its own errors, never HTTP ones: the kind says what went wrong, the code is the stable machine code
 * the API reports, and the HTTP layer (src/app.ts) maps the kind to a status.
 */
export type StorageErrorKind = "invalid_input" | "too_large" | "unsupported" | "conflict" | "unavailable";

export class StorageError extends Error {
  constructor(
    readonly kind: StorageErrorKind,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "StorageError";
  }
}
