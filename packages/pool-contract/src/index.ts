/**
 * `@vtt/pool-contract`: the single source of the edge ⇄ Whisper pool contract (docs/pool-contract.md), imported by
 * the Worker (`src/`) and by the pool (`gpu-worker/`) by package name. Pure code only: WebCrypto, zod, no bindings,
 * so it runs unchanged in workerd and in Node ≥ 20.
 */
export * from "./backoff.ts";
export * from "./languages.ts";
export * from "./payloads.ts";
export * from "./signing.ts";
export * from "./url-guard.ts";
export * from "./wav.ts";
