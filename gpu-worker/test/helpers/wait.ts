/** Waiting on a condition instead of sleeping a fixed time: fast when it holds early, and a clear failure when not. */

/** Options for {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this long (ms). */
  timeoutMs?: number;
  /** Time between checks (ms). */
  intervalMs?: number;
  /** Says what was awaited, in the error on timeout. */
  description?: string;
}

/**
 * Resolves with the first truthy value `condition` returns (it may be async); rejects once `timeoutMs` passed.
 * A condition that throws counts as not yet met.
 */
export async function waitFor<T>(
  condition: () => T | Promise<T>,
  options: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const { timeoutMs = 10_000, intervalMs = 25, description = "condition" } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await condition();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${cause}`);
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
