/**
 * Queue consumer for transcription jobs. Idempotent per message: a redelivery of a terminal, deleted or already
 * dispatched job is acknowledged and ignored. Each provider call goes through that provider's circuit breaker; while
 * it is open the job fails over along `FAILOVER_CHAIN`, or is parked (retried later without calling anyone).
 * Retryable failures are retried with exponential backoff and full jitter; after the queue's `max_retries` the
 * message goes to the dead-letter queue, whose inspector decides between re-driving and failing the job.
 */
import { breakerFor } from "../breaker/circuit-breaker.ts";
import type { SpeakerOptions } from "../domain/speakers.ts";
import type { Env, JobMessage } from "../env.ts";
import {
  type ChannelSplitPlan,
  type ChannelSplitRefusal,
  openChannelAudio,
  planChannelSplit,
} from "../jobs/channel-audio.ts";
import { AudioFetchError, fetchJobAudio, needsAudioFetch } from "../jobs/fetch-audio.ts";
import { canRedactAudio, PoolRedactionUnavailable, unsupportedRedactionMessage } from "../jobs/redact-audio.ts";
import { redactionOptionsOf } from "../jobs/redaction-options.ts";
import { failAudioRedaction, finishAudioRedaction, storeCompletedResult, storeFailure } from "../jobs/results.ts";
import { backoffDelaySeconds, retryPolicyFromSettings, type RetryPolicyOptions } from "../jobs/retry-policy.ts";
import { isTerminal } from "../jobs/state.ts";
import { log, withLogContext } from "../lib/log.ts";
import { childTraceparent, traceIdOf } from "../observability/trace.ts";
import {
  checkAudioSize,
  checkProviderOptions,
  EDGE_CHANNEL_SPLIT_FORMATS,
  failoverCandidates,
  providerAudioBytes,
  type ProviderJobOptions,
  providerSplitsChannelsAtEdge,
} from "../providers/capabilities.ts";
import { type ChannelRequest, transcribeChannels } from "../providers/channel-split.ts";
import { parseStoredKeyterms } from "../providers/keyterms.ts";
import { createTranscriptionService } from "../providers/registry.ts";
import { ProviderError, type ProviderName } from "../providers/types.ts";
import { createDb, type Db } from "../storage/db.ts";
import { getJobById, markDispatched, markProcessing, setDelayReason } from "../storage/jobs.repo.ts";
import { DELAY_PROVIDER_UNAVAILABLE, type TranscriptionRow } from "../storage/schema.ts";
import { getSealedStream } from "../storage/sealed-objects.ts";
import { placeById } from "../storage/shards.ts";

const CONTENT_TYPES: Record<string, string> = {
  wav: "audio/wav",
  mp3: "audio/mpeg",
  flac: "audio/flac",
  ogg: "audio/ogg",
  webm: "audio/webm",
  mp4: "audio/mp4",
};

function isJobMessage(body: unknown): body is JobMessage {
  const b = body as Partial<JobMessage> | null;
  return !!b && typeof b === "object" && typeof b.job_id === "string" && typeof b.tenant_id === "string";
}

export async function handleTranscriptionBatch(batch: MessageBatch<unknown>, env: Env): Promise<void> {
  const policy = retryPolicyFromSettings(env);
  await Promise.all(
    batch.messages.map((message) => {
      const body = message.body as Partial<JobMessage> | null;
      // each job is worked on inside the shard and region its id names (a region's queue serves all its shards)
      const placed = typeof body?.job_id === "string" ? placeById(env, body.job_id) : env;
      if (!placed) {
        log("job_message_ignored", { job_id: body?.job_id, reason: "unknown_shard", attempt: message.attempts });
        message.ack();
        return;
      }
      const db = createDb(placed);
      // every line about this message carries the upload's trace id (the sweeper and the re-drive resend it too)
      return withLogContext(
        {
          trace_id: traceIdOf(body?.traceparent),
          job_id: body?.job_id,
          tenant_id: body?.tenant_id,
          attempt: message.attempts,
        },
        () => processMessage(message, placed, db, policy),
      );
    }),
  );
}

/** What the edge knows of splitting a multichannel job's channels: null until read (or when it needs none). */
type ChannelSplit = ChannelSplitPlan | ChannelSplitRefusal | null;

/**
 * The options that decide which providers may run the job (its size once its audio is stored; for a multichannel
 * WAV, the size of each channel the edge would send).
 */
function jobOptions(job: TranscriptionRow, split: ChannelSplit = null): ProviderJobOptions {
  return {
    task: job.task,
    model: job.requestedModel,
    bytes: job.audioKey && job.audioBytes > 0 ? job.audioBytes : null,
    speakerLabels: job.speakerLabels,
    multichannel: job.multichannel,
    format: job.audioFormat,
    channelSplit: split,
  };
}

/**
 * A multichannel WAV's split, read from its stored header (one bounded read) so routing can judge each channel's
 * size and the adapters can be handed one channel at a time; null for other jobs and when the audio is gone.
 */
async function channelSplitOf(env: Env, job: TranscriptionRow): Promise<ChannelSplit> {
  if (!job.multichannel || !job.audioKey || !EDGE_CHANNEL_SPLIT_FORMATS.has(job.audioFormat)) return null;
  return planChannelSplit(env, { tenantId: job.tenantId, audioKey: job.audioKey, audioBytes: job.audioBytes });
}

/** The job's speaker options as adapters take them; null when it asked for neither. */
function speakerOptionsOf(job: TranscriptionRow): SpeakerOptions | null {
  if (!job.speakerLabels && !job.multichannel) return null;
  return {
    labels: job.speakerLabels,
    expected: job.speakersExpected,
    min: job.minSpeakers,
    max: job.maxSpeakers,
    multichannel: job.multichannel,
  };
}

async function setDelayed(db: Db, jobId: string, reason: string | null): Promise<void> {
  await setDelayReason(db, jobId, reason, Date.now());
}

async function processMessage(message: Message<unknown>, env: Env, db: Db, policy: RetryPolicyOptions): Promise<void> {
  const body = message.body;
  if (!isJobMessage(body)) {
    log("job_message_malformed", { message_id: message.id });
    message.ack();
    return;
  }
  const jobId = body.job_id;
  let job: TranscriptionRow | null = null;
  try {
    job = await getJobById(db, jobId);
    if (!job || job.tenantId !== body.tenant_id || isTerminal(job.status)) {
      log("job_message_ignored", { job_id: jobId, reason: job ? job.status : "deleted", attempt: message.attempts });
      message.ack();
      return;
    }
    if (job.pendingAudioRedaction) {
      // the pool's result is stored and waits for its audio: redact it and complete the job (src/jobs/results.ts)
      const started = Date.now();
      const completed = await finishAudioRedaction(env, db, job).catch((error: unknown) => {
        if (!(error instanceof PoolRedactionUnavailable)) throw error;
        throw new ProviderError("pool_redaction_unavailable", error.message, { retryable: true });
      });
      log("audio_redaction_finished", {
        job_id: jobId,
        completed,
        attempt: message.attempts,
        duration_ms: Date.now() - started,
      });
      message.ack();
      return;
    }
    if (body.kind === "audio_redaction") {
      // nothing waits any more (the job was settled by another outcome, or its redaction by another delivery)
      log("job_message_ignored", { job_id: jobId, reason: "no_pending_redaction", attempt: message.attempts });
      message.ack();
      return;
    }
    if (job.provider === "whisper-pool" && job.status === "processing" && job.dispatchedAt !== null) {
      log("job_message_ignored", { job_id: jobId, reason: "already_dispatched", attempt: message.attempts });
      message.ack();
      return;
    }
    // a job its provider cannot honour (a translation on Deepgram, a model it lacks) fails before any fetch or call
    // (its size is judged with the failover chain below: audio over its own provider's limit may go to the next one)
    const refusal = checkProviderOptions(env, job.provider, { ...jobOptions(job), bytes: null });
    if (refusal) throw new ProviderError(refusal.code, refusal.message, { retryable: false });
    if (needsAudioFetch(job)) {
      // an audio_url job: its audio comes into R2 first (once; a retry of the provider call does not fetch again)
      const fetched = await fetchJobAudio(env, db, job);
      if (!fetched) {
        log("job_message_ignored", { job_id: jobId, reason: "changed_during_fetch", attempt: message.attempts });
        message.ack();
        return;
      }
      job = fetched;
    }
    // audio redaction rewrites WAV, MP3, FLAC and Ogg at the edge and the rest through a pool; without one other audio
    // is refused (uploads at once; a URL's audio is known only now)
    if (job.redactPii && job.redactPiiAudio && !canRedactAudio(env, job.audioFormat)) {
      await failAudioRedaction(
        env,
        db,
        job,
        "audio_redaction_unsupported",
        unsupportedRedactionMessage(job.audioFormat),
      );
      log("job_failed", { job_id: jobId, code: "audio_redaction_unsupported", attempt: message.attempts });
      message.ack();
      return;
    }
    const split = await channelSplitOf(env, job);
    if (job.multichannel) {
      // the container and the WAV's samples are known now: a provider the edge would split for must be able to
      const channelRefusal = checkProviderOptions(env, job.provider, { ...jobOptions(job, split), bytes: null });
      if (channelRefusal) throw new ProviderError(channelRefusal.code, channelRefusal.message, { retryable: false });
    }
    const outcome = await runWithBreakers(job, split, env, db, message.attempts, body.traceparent ?? job.traceparent);
    if (outcome === "parked") {
      const delaySeconds = backoffDelaySeconds(message.attempts, policy);
      log("job_parked", { job_id: jobId, provider: job.provider, attempt: message.attempts, delay_s: delaySeconds });
      message.retry({ delaySeconds: Math.max(delaySeconds, 1) });
      return;
    }
    message.ack();
  } catch (error) {
    const failure =
      error instanceof ProviderError || error instanceof AudioFetchError
        ? error
        : new ProviderError("provider_network_error", error instanceof Error ? error.message : String(error), {
            retryable: true,
            cause: error,
          });
    if (!failure.retryable && job) {
      await storeFailure(env, db, job, failure.code, failure.message);
      log("job_failed", { job_id: jobId, code: failure.code, attempt: message.attempts });
      message.ack();
      return;
    }
    const delaySeconds = backoffDelaySeconds(message.attempts, policy, failure.retryAfterSeconds);
    log("job_retry", { job_id: jobId, code: failure.code, attempt: message.attempts, delay_s: delaySeconds });
    message.retry({ delaySeconds });
  }
}

/**
 * Tries the job's provider, failing over while breakers reject (only to providers that can honour the job's task and
 * model). Returns "parked" when every candidate's breaker is open (nobody was called). Provider errors are rethrown
 * after being reported to the breaker.
 */
async function runWithBreakers(
  job: TranscriptionRow,
  split: ChannelSplit,
  env: Env,
  db: Db,
  attempt: number,
  traceparent: string | null,
): Promise<"done" | "parked"> {
  const options = jobOptions(job, split);
  const candidates = failoverCandidates(env, job.provider, options);
  if (candidates.length === 0) {
    // over its provider's size limit and nobody later in the chain can take it: fail now, call nobody
    const refusal = checkAudioSize(env, job.provider, providerAudioBytes(job.provider, options));
    const message = refusal?.message ?? `no provider can take the audio of job ${job.id}`;
    throw new ProviderError("audio_too_large_for_provider", message, { retryable: false });
  }
  for (const provider of candidates) {
    const breaker = breakerFor(env, provider);
    const { decision } = await breaker.acquire(provider);
    if (decision === "reject") {
      log("breaker_rejected", { job_id: job.id, provider });
      continue;
    }
    const probe = decision === "probe";
    let service;
    try {
      service = createTranscriptionService(provider as ProviderName, env);
    } catch (error) {
      await breaker.record(provider, "success", probe);
      throw error;
    }
    const started = Date.now();
    const row = await markProcessing(db, job.id, started, provider);
    if (!row) return "done";
    if (provider !== job.provider) log("job_failover", { job_id: job.id, from: job.provider, to: provider });
    log("provider_call", { job_id: job.id, tenant_id: row.tenantId, provider, attempt, probe });
    // a multichannel job on a provider that takes one channel at a time: the edge splits the WAV (one read each)
    const channels = row.multichannel && providerSplitsChannelsAtEdge(provider) ? split : null;
    if (channels && !channels.ok) {
      // routing keeps such a job off this provider; a refusal rather than a whole-file call if it ever gets here
      await breaker.record(provider, "success", probe);
      throw new ProviderError("multichannel_unsupported", channels.reason, { retryable: false });
    }
    const object = channels || !row.audioKey ? null : await getSealedStream(env, row.tenantId, row.audioKey);
    if (!channels && !object) {
      await breaker.record(provider, "success", probe);
      await storeFailure(env, db, row, "audio_missing", "The uploaded audio is no longer stored.");
      return "done";
    }
    const request: ChannelRequest = {
      jobId: row.id,
      language: row.requestedLanguage,
      prompt: row.prompt,
      keyterms: parseStoredKeyterms(row.keyterms),
      task: row.task,
      model: row.requestedModel,
      temperature: row.temperature,
      wordTimestamps: row.wordTimestamps,
      redactPii: redactionOptionsOf(row)?.policies ?? null,
      // the provider call (or the pool's whole job) is a child span of the upload's trace
      traceparent: childTraceparent(traceparent),
    };
    try {
      const outcome = channels
        ? await transcribeChannels(service, request, {
            channels: channels.channels,
            bytes: channels.channelBytes,
            open: (channel) => openChannel(env, row, channels, channel),
          })
        : await service.transcribe({
            ...request,
            audio: object!.body,
            bytes: row.audioBytes,
            format: row.audioFormat,
            contentType: CONTENT_TYPES[row.audioFormat] ?? "application/octet-stream",
            speakers: speakerOptionsOf(row),
          });
      await breaker.record(provider, "success", probe);
      if (outcome.kind === "dispatched") {
        await markDispatched(db, row.id, Date.now());
        log("job_dispatched", { job_id: row.id, provider, duration_ms: Date.now() - started });
      } else {
        const stored = await storeCompletedResult(env, db, row, outcome.transcript);
        log("job_completed", { job_id: row.id, provider, stored, duration_ms: Date.now() - started });
      }
      return "done";
    } catch (error) {
      await object?.body.cancel().catch(() => undefined);
      // only provider-side trouble counts against its breaker; audio the provider rejected says it is up
      // nor does a pool that could not redact the audio afterwards (the provider answered)
      const providerDown =
        !(error instanceof PoolRedactionUnavailable) && (!(error instanceof ProviderError) || error.retryable);
      await breaker.record(provider, providerDown ? "failure" : "success", probe);
      log("provider_error", {
        job_id: row.id,
        provider,
        code: error instanceof ProviderError ? error.code : "unexpected",
        duration_ms: Date.now() - started,
      });
      throw error;
    }
  }
  await setDelayed(db, job.id, DELAY_PROVIDER_UNAVAILABLE);
  return "parked";
}

/** One channel of the job's stored WAV as a mono WAV stream; the audio vanishing between channels is retried. */
async function openChannel(
  env: Env,
  row: TranscriptionRow,
  plan: ChannelSplitPlan,
  channel: number,
): Promise<ReadableStream<Uint8Array>> {
  const source = { tenantId: row.tenantId, audioKey: row.audioKey!, audioBytes: row.audioBytes };
  const stream = await openChannelAudio(env, source, plan.layout, channel);
  if (!stream) throw new Error(`the audio of job ${row.id} is no longer stored`);
  return stream;
}
