/**
 * Circuit-breaker policy: a pure state machine, one state per provider.
 *
 * closed ──(failure rate ≥ threshold over the sliding window, with enough calls)──▶ open
 * open ──(cool-down elapsed: `nextAttemptAt`)──▶ half_open
 * half_open ──(enough probe successes)──▶ closed   (window cleared, cool-down reset)
 * half_open ──(any probe failure)──▶ open         (cool-down × multiplier, capped)
 * any ──(admin force)──▶ open (held until forced closed) | closed
 *
 * Every function takes `now` (epoch milliseconds) and returns a new state; nothing here reads a clock or touches a
 * binding, so the Durable Object that owns the state can persist it as JSON and set its alarm to `nextAttemptAt`.
 */

/** Where the breaker is. `half_open` lets a limited number of probe calls through. */
export type BreakerStatus = "closed" | "open" | "half_open";

/** What `acquire` tells the caller to do with one call. */
export type BreakerDecision = "allow" | "probe" | "reject";

/** Outcome of one admitted call, as reported to `recordResult`. */
export type CallOutcome = "success" | "failure";

/** Tuning for one breaker. All durations in milliseconds. */
export interface BreakerSettings {
  /** Count-based window: only the last N completed calls are considered. */
  windowSize: number;
  /** Time-based window: calls older than this are forgotten; `null` keeps only the count limit. */
  windowDurationMs: number | null;
  /** Trip when failures / calls in the window reach this fraction (0 < x ≤ 1). */
  failureRateThreshold: number;
  /** Never trip on fewer calls than this in the window, so two early failures cannot open it. */
  minimumCalls: number;
  /** Cool-down before the first half-open attempt. */
  baseCooldownMs: number;
  /** Each re-open (a failed half-open) multiplies the previous cool-down by this. */
  cooldownMultiplier: number;
  /** Upper bound for the growing cool-down. */
  maxCooldownMs: number;
  /** Probe calls allowed in flight at once while half-open. */
  halfOpenMaxProbes: number;
  /** Probe successes needed (in total, while half-open) to close again. */
  halfOpenSuccessesToClose: number;
  /**
   * A probe that has not reported after this long is presumed lost (worker crashed, result never recorded) and its
   * slot is freed, so a half-open breaker cannot stay stuck rejecting everything.
   */
  probeTimeoutMs: number;
  /** `retryAfterMs` hint returned when half-open rejects because every probe slot is busy. */
  halfOpenRetryAfterMs: number;
}

/** Sensible defaults for a transcription provider: 20-call / 60 s window, 50 % failures, 30 s → 10 min cool-down. */
export const DEFAULT_BREAKER_SETTINGS: Readonly<BreakerSettings> = Object.freeze({
  windowSize: 20,
  windowDurationMs: 60_000,
  failureRateThreshold: 0.5,
  minimumCalls: 5,
  baseCooldownMs: 30_000,
  cooldownMultiplier: 2,
  maxCooldownMs: 600_000,
  halfOpenMaxProbes: 2,
  halfOpenSuccessesToClose: 2,
  probeTimeoutMs: 300_000,
  halfOpenRetryAfterMs: 5_000,
});

/** One completed call in the sliding window. */
export interface WindowEntry {
  /** Completion time, epoch ms. */
  at: number;
  failed: boolean;
}

/** Monotonic counters for dashboards and logs; never used for decisions. */
export interface BreakerCounters {
  /** Calls admitted by `acquire` (allowed plus probes). */
  admitted: number;
  /** Calls refused by `acquire`. */
  rejected: number;
  /** Half-open probes admitted. */
  probes: number;
  successes: number;
  failures: number;
  /** Number of status changes so far. */
  transitions: number;
  /** How often it has gone to open (automatically or forced). */
  opens: number;
}

/** The whole breaker state: plain JSON (numbers, strings, booleans, arrays), safe to persist and reload. */
export interface BreakerState {
  /** Schema version of this object, so a stored state can be migrated if the shape ever changes. */
  version: 1;
  status: BreakerStatus;
  /** Completed calls while closed, oldest first, already trimmed to the window. */
  window: WindowEntry[];
  /** When the breaker last opened (epoch ms), or `null` when it is not open. */
  openedAt: number | null;
  /** When an open breaker may move to half-open (epoch ms); `null` when closed, half-open or forced open. */
  nextAttemptAt: number | null;
  /** Cool-down used for the current (or most recent) open period; 0 before the first open. */
  cooldownMs: number;
  /** Opens since the breaker was last closed; drives the growing cool-down. */
  consecutiveOpens: number;
  /** Start times (epoch ms) of probes admitted and not yet reported. */
  probesInFlight: number[];
  /** Probe successes collected in the current half-open period. */
  probeSuccesses: number;
  /** True while an admin holds the breaker open: no automatic half-open until forced closed. */
  forcedOpen: boolean;
  /** Epoch ms of the last status change, or `null` if it never changed. */
  lastTransitionAt: number | null;
  counters: BreakerCounters;
}

/** A status change, reported so callers can log it or schedule an alarm. */
export interface BreakerTransition {
  from: BreakerStatus;
  to: BreakerStatus;
  at: number;
}

/** Result of `acquire`. */
export interface AcquireResult {
  state: BreakerState;
  decision: BreakerDecision;
  /** 0 when admitted; otherwise how long the caller should wait before trying again. */
  retryAfterMs: number;
  /** Set when acquiring moved the breaker (open → half_open because the cool-down had already elapsed). */
  transition?: BreakerTransition;
}

/** Result of `recordResult`, `onCooldownElapsed` and `forceState`. */
export interface TransitionResult {
  state: BreakerState;
  transition?: BreakerTransition;
}

/** A fresh, closed breaker with empty counters. */
export function initialBreakerState(): BreakerState {
  return {
    version: 1,
    status: "closed",
    window: [],
    openedAt: null,
    nextAttemptAt: null,
    cooldownMs: 0,
    consecutiveOpens: 0,
    probesInFlight: [],
    probeSuccesses: 0,
    forcedOpen: false,
    lastTransitionAt: null,
    counters: { admitted: 0, rejected: 0, probes: 0, successes: 0, failures: 0, transitions: 0, opens: 0 },
  };
}

/**
 * Merges overrides onto `DEFAULT_BREAKER_SETTINGS` and validates the result.
 * @throws RangeError naming the first setting that makes no sense.
 */
export function resolveBreakerSettings(overrides: Partial<BreakerSettings> = {}): BreakerSettings {
  const settings: BreakerSettings = { ...DEFAULT_BREAKER_SETTINGS, ...overrides };
  const positiveInteger = (name: keyof BreakerSettings) => {
    const value = settings[name];
    if (typeof value !== "number" || !Number.isInteger(value) || value < 1) {
      throw new RangeError(`breaker setting ${name} must be a positive integer, got ${String(value)}`);
    }
  };
  const nonNegative = (name: keyof BreakerSettings) => {
    const value = settings[name];
    if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
      throw new RangeError(`breaker setting ${name} must be a finite number ≥ 0, got ${String(value)}`);
    }
  };
  positiveInteger("windowSize");
  positiveInteger("minimumCalls");
  positiveInteger("halfOpenMaxProbes");
  positiveInteger("halfOpenSuccessesToClose");
  nonNegative("baseCooldownMs");
  nonNegative("maxCooldownMs");
  nonNegative("probeTimeoutMs");
  nonNegative("halfOpenRetryAfterMs");
  if (settings.windowDurationMs !== null) {
    if (!Number.isFinite(settings.windowDurationMs) || settings.windowDurationMs <= 0) {
      throw new RangeError(`breaker setting windowDurationMs must be > 0 or null, got ${settings.windowDurationMs}`);
    }
  }
  if (!(settings.failureRateThreshold > 0 && settings.failureRateThreshold <= 1)) {
    throw new RangeError(
      `breaker setting failureRateThreshold must be in (0, 1], got ${settings.failureRateThreshold}`,
    );
  }
  if (!(settings.cooldownMultiplier >= 1 && Number.isFinite(settings.cooldownMultiplier))) {
    throw new RangeError(`breaker setting cooldownMultiplier must be ≥ 1, got ${settings.cooldownMultiplier}`);
  }
  if (settings.minimumCalls > settings.windowSize) {
    throw new RangeError("breaker setting minimumCalls must not exceed windowSize, or the breaker could never trip");
  }
  if (settings.maxCooldownMs < settings.baseCooldownMs) {
    throw new RangeError("breaker setting maxCooldownMs must be ≥ baseCooldownMs");
  }
  return settings;
}

/**
 * Asks whether one call may go to the provider now.
 * - closed: `allow`.
 * - open: `reject` with the time left until `nextAttemptAt`; if that time has already passed (the alarm is late),
 *   the breaker moves to half-open first and the call is treated as below.
 * - half_open: `probe` while fewer than `halfOpenMaxProbes` probes are in flight (the caller must later pass
 *   `wasProbe = true` to `recordResult`), else `reject`.
 */
export function acquire(state: BreakerState, now: number, settings: BreakerSettings): AcquireResult {
  let current = state;
  let transition: BreakerTransition | undefined;

  if (
    current.status === "open" &&
    !current.forcedOpen &&
    current.nextAttemptAt !== null &&
    now >= current.nextAttemptAt
  ) {
    ({ state: current, transition } = onCooldownElapsed(current, now));
  }

  if (current.status === "closed") {
    return { state: bump(current, { admitted: 1 }), decision: "allow", retryAfterMs: 0, transition };
  }

  if (current.status === "open") {
    // A forced-open breaker has no schedule; the longest cool-down is the honest hint.
    const retryAfterMs =
      current.nextAttemptAt === null ? settings.maxCooldownMs : Math.max(0, current.nextAttemptAt - now);
    return { state: bump(current, { rejected: 1 }), decision: "reject", retryAfterMs, transition };
  }

  // half_open: free the slots of probes that never reported, then admit while slots remain.
  const live = current.probesInFlight.filter((startedAt) => now - startedAt < settings.probeTimeoutMs);
  if (live.length < settings.halfOpenMaxProbes) {
    const next = bump({ ...current, probesInFlight: [...live, now] }, { admitted: 1, probes: 1 });
    return { state: next, decision: "probe", retryAfterMs: 0, transition };
  }
  return {
    state: bump({ ...current, probesInFlight: live }, { rejected: 1 }),
    decision: "reject",
    retryAfterMs: settings.halfOpenRetryAfterMs,
    transition,
  };
}

/**
 * Records how an admitted call ended.
 * - closed: the call joins the sliding window; the breaker opens when the window holds at least `minimumCalls`
 *   calls and the failure rate reaches `failureRateThreshold`.
 * - half_open with `wasProbe`: a success counts towards `halfOpenSuccessesToClose`; a failure re-opens with a longer
 *   cool-down.
 * - Otherwise (a call admitted while closed that finishes after the breaker opened, or a probe reporting after a
 *   forced change) only the counters move: stale evidence must not flip the current state.
 */
export function recordResult(
  state: BreakerState,
  outcome: CallOutcome,
  now: number,
  settings: BreakerSettings,
  wasProbe: boolean,
): TransitionResult {
  const failed = outcome === "failure";
  let current = bump(state, failed ? { failures: 1 } : { successes: 1 });

  if (wasProbe && current.probesInFlight.length > 0) {
    // Probes are interchangeable, so release the oldest slot.
    current = { ...current, probesInFlight: current.probesInFlight.slice(1) };
  }

  if (current.status === "closed" && !wasProbe) {
    const window = trimWindow([...current.window, { at: now, failed }], now, settings);
    current = { ...current, window };
    if (shouldTrip(window, settings)) {
      return openBreaker(current, now, settings.baseCooldownMs, false);
    }
    return { state: current };
  }

  if (current.status === "half_open" && wasProbe) {
    if (failed) {
      const grown = Math.min(
        settings.maxCooldownMs,
        Math.max(settings.baseCooldownMs, current.cooldownMs * settings.cooldownMultiplier),
      );
      return openBreaker(current, now, grown, false);
    }
    const probeSuccesses = current.probeSuccesses + 1;
    if (probeSuccesses >= settings.halfOpenSuccessesToClose) {
      return closeBreaker(current, now);
    }
    return { state: { ...current, probeSuccesses } };
  }

  return { state: current };
}

/**
 * Called when the Durable Object's alarm fires: an open breaker whose `nextAttemptAt` has passed moves to half-open.
 * Early, repeated or forced-open calls change nothing, so the alarm handler may call it unconditionally.
 */
export function onCooldownElapsed(state: BreakerState, now: number): TransitionResult {
  if (state.status !== "open" || state.forcedOpen || state.nextAttemptAt === null || now < state.nextAttemptAt) {
    return { state };
  }
  const next: BreakerState = {
    ...state,
    status: "half_open",
    nextAttemptAt: null,
    probesInFlight: [],
    probeSuccesses: 0,
  };
  return withTransition(next, "open", now);
}

/**
 * Admin override. `open` holds the breaker open (rejecting everything, no automatic half-open) until forced closed;
 * `closed` closes it with a clean window and reset cool-down. Forcing the status it already has still applies the
 * hold/reset but reports no transition.
 */
export function forceState(
  state: BreakerState,
  target: "open" | "closed",
  now: number,
  settings: BreakerSettings,
): TransitionResult {
  if (target === "closed") return closeBreaker(state, now);
  return openBreaker(state, now, Math.max(state.cooldownMs, settings.baseCooldownMs), true);
}

/** Failures / calls over the current window (0 when empty), for observability. */
export function failureRate(state: BreakerState, now: number, settings: BreakerSettings): number {
  const window = trimWindow(state.window, now, settings);
  if (window.length === 0) return 0;
  return window.filter((entry) => entry.failed).length / window.length;
}

function trimWindow(window: WindowEntry[], now: number, settings: BreakerSettings): WindowEntry[] {
  let start = Math.max(0, window.length - settings.windowSize);
  if (settings.windowDurationMs !== null) {
    const oldestAllowed = now - settings.windowDurationMs;
    while (start < window.length && window[start]!.at <= oldestAllowed) start++;
  }
  return start === 0 ? window : window.slice(start);
}

function shouldTrip(window: WindowEntry[], settings: BreakerSettings): boolean {
  if (window.length < settings.minimumCalls) return false;
  const failures = window.filter((entry) => entry.failed).length;
  return failures / window.length >= settings.failureRateThreshold;
}

function openBreaker(state: BreakerState, now: number, cooldownMs: number, forced: boolean): TransitionResult {
  const wasOpen = state.status === "open";
  const next: BreakerState = {
    ...state,
    status: "open",
    window: [],
    openedAt: wasOpen && state.openedAt !== null ? state.openedAt : now,
    nextAttemptAt: forced ? null : now + cooldownMs,
    cooldownMs,
    consecutiveOpens: wasOpen ? state.consecutiveOpens : state.consecutiveOpens + 1,
    probesInFlight: [],
    probeSuccesses: 0,
    forcedOpen: forced,
  };
  if (wasOpen) return { state: next };
  return withTransition(bump(next, { opens: 1 }), state.status, now);
}

function closeBreaker(state: BreakerState, now: number): TransitionResult {
  const next: BreakerState = {
    ...state,
    status: "closed",
    window: [],
    openedAt: null,
    nextAttemptAt: null,
    cooldownMs: 0,
    consecutiveOpens: 0,
    probesInFlight: [],
    probeSuccesses: 0,
    forcedOpen: false,
  };
  if (state.status === "closed") return { state: next };
  return withTransition(next, state.status, now);
}

function withTransition(next: BreakerState, from: BreakerStatus, now: number): TransitionResult {
  return {
    state: bump({ ...next, lastTransitionAt: now }, { transitions: 1 }),
    transition: { from, to: next.status, at: now },
  };
}

function bump(state: BreakerState, increments: Partial<BreakerCounters>): BreakerState {
  const counters = { ...state.counters };
  for (const key of Object.keys(increments) as (keyof BreakerCounters)[]) {
    counters[key] += increments[key] ?? 0;
  }
  return { ...state, counters };
}
