/**
 * Per-provider circuit breaker: one Durable Object per provider name (`idFromName(provider)`). The pure policy
 * (`policy.ts`) decides; this object persists its JSON state in SQLite-backed storage (so it survives restarts and
 * evictions) and sets an alarm for the open → half-open move.
 */
import { DurableObject } from "cloudflare:workers";

import { settings } from "../config.ts";
import type { Env } from "../env.ts";
import { log } from "../lib/log.ts";
import {
  acquire,
  type BreakerDecision,
  type BreakerSettings,
  type BreakerState,
  type BreakerTransition,
  type CallOutcome,
  failureRate,
  forceState,
  initialBreakerState,
  onCooldownElapsed,
  recordResult,
  resolveBreakerSettings,
} from "./policy.ts";

const STATE_KEY = "state";

export interface BreakerSnapshot {
  provider: string;
  state: BreakerState;
  failure_rate: number;
}

export class CircuitBreaker extends DurableObject<Env> {
  #settings: BreakerSettings;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#settings = breakerSettingsFromEnv(env);
  }

  // storage reads are served from the object's own cache, so no second copy is kept here
  async #load(): Promise<BreakerState> {
    return (await this.ctx.storage.get<BreakerState>(STATE_KEY)) ?? initialBreakerState();
  }

  async #save(state: BreakerState, transition: BreakerTransition | undefined, provider: string): Promise<void> {
    await this.ctx.storage.put(STATE_KEY, state);
    if (transition) {
      log("breaker_transition", { provider, from: transition.from, to: transition.to, cooldown_ms: state.cooldownMs });
    }
    if (state.status === "open" && state.nextAttemptAt !== null) await this.ctx.storage.setAlarm(state.nextAttemptAt);
    else await this.ctx.storage.deleteAlarm();
  }

  /** Asks to make one call. `probe` means a half-open trial whose outcome must be reported. */
  async acquire(provider: string): Promise<{ decision: BreakerDecision; retryAfterMs: number }> {
    const result = acquire(await this.#load(), Date.now(), this.#settings);
    await this.#save(result.state, result.transition, provider);
    return { decision: result.decision, retryAfterMs: result.retryAfterMs };
  }

  /** Reports the outcome of an admitted call. */
  async record(provider: string, outcome: CallOutcome, wasProbe: boolean): Promise<void> {
    const result = recordResult(await this.#load(), outcome, Date.now(), this.#settings, wasProbe);
    await this.#save(result.state, result.transition, provider);
  }

  /** Admin override: hold open, or close at once. */
  async force(provider: string, to: "open" | "closed"): Promise<BreakerSnapshot> {
    const result = forceState(await this.#load(), to, Date.now(), this.#settings);
    await this.#save(result.state, result.transition, provider);
    return this.snapshot(provider);
  }

  async snapshot(provider: string): Promise<BreakerSnapshot> {
    const state = await this.#load();
    return { provider, state, failure_rate: failureRate(state, Date.now(), this.#settings) };
  }

  /** Cool-down elapsed: open → half-open. */
  override async alarm(): Promise<void> {
    const result = onCooldownElapsed(await this.#load(), Date.now());
    await this.#save(result.state, result.transition, "alarm");
  }
}

/** Breaker thresholds from settings (`BREAKER_*`), defaults in `DEFAULT_BREAKER_SETTINGS`. */
export function breakerSettingsFromEnv(env: Env): BreakerSettings {
  const config = settings(env);
  const overrides: Partial<BreakerSettings> = {
    windowSize: config.BREAKER_WINDOW_SIZE,
    failureRateThreshold: config.BREAKER_FAILURE_RATE,
    minimumCalls: config.BREAKER_MINIMUM_CALLS,
    baseCooldownMs: config.BREAKER_COOLDOWN_MS,
    maxCooldownMs: config.BREAKER_MAX_COOLDOWN_MS,
    halfOpenMaxProbes: config.BREAKER_HALF_OPEN_PROBES,
  };
  // unset settings keep the policy's defaults
  for (const key of Object.keys(overrides) as (keyof BreakerSettings)[]) {
    if (overrides[key] === undefined) delete overrides[key];
  }
  return resolveBreakerSettings(overrides);
}

/** The stub for a provider's breaker. */
export function breakerFor(env: Env, provider: string): DurableObjectStub<CircuitBreaker> {
  return env.BREAKER.get(env.BREAKER.idFromName(provider));
}
