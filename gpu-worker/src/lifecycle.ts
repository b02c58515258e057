/**
 * What the pool opened, and closing it again: every start-up step records how to undo itself, and stopping (or a
 * start-up that fails half way) closes everything in the reverse order of opening. That is BullMQ's graceful-shutdown
 * order (workers, then queues, then connections), because the pool opens connections, then queues, then workers.
 */
import type { Logger } from "./log.ts";

/** One thing start-up opened. */
interface OpenedStep {
  name: string;
  close: () => Promise<unknown>;
}

/** Records what was opened; {@link Lifecycle.close} closes it in reverse order. */
export class Lifecycle {
  readonly #logger: Logger;
  readonly #opened: OpenedStep[] = [];
  #closing: Promise<void> | null = null;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  /** Records something just opened; it is closed before everything opened earlier. */
  opened(name: string, close: () => Promise<unknown>): void {
    if (this.#closing) throw new Error(`cannot open ${name}: the pool is closing`);
    this.#opened.push({ name, close });
  }

  /** Names of what is open, in the order it was opened. */
  get openNames(): string[] {
    return this.#opened.map((step) => step.name);
  }

  /**
   * Closes everything, newest first. A step that fails is logged and the rest still run, so one stuck resource
   * never keeps the others open. Idempotent: a second call waits for the first.
   */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      while (this.#opened.length > 0) {
        const step = this.#opened.pop()!;
        try {
          await step.close();
          this.#logger.debug("lifecycle_closed", { step: step.name });
        } catch (error) {
          this.#logger.error("shutdown_step_failed", { step: step.name, error });
        }
      }
    })();
    return this.#closing;
  }
}

/** True when `promise` settles within `ms`; a rejection counts as settled (shutdown goes on regardless). */
export async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  const settled = promise.then(
    () => true as const,
    () => true as const,
  );
  try {
    return await Promise.race([settled, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
