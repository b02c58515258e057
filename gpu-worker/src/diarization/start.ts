/**
 * Starting the diarization stage for a pool whose settings name both models: resolve them (download once with the
 * SHA-256 checked, like the Whisper weights, when MODEL_AUTO_FETCH allows), load them in the host, and record the
 * stage in the pool's lifecycle. A model that cannot be resolved or loaded stops the pool's start-up with the reason.
 */
import type { PoolSettings } from "../config.ts";
import type { Lifecycle } from "../lifecycle.ts";
import type { Logger } from "../log.ts";
import { Diarizer } from "./diarizer.ts";
import { resolveDiarizationModel } from "./models.ts";

/** sherpa-onnx's defaults: drop speech turns under 0.3 s, join a speaker's turns across gaps under 0.5 s. */
const MIN_DURATION_ON_SECONDS = 0.3;
const MIN_DURATION_OFF_SECONDS = 0.5;

export async function startDiarizer(
  settings: PoolSettings,
  logger: Logger,
  lifecycle: Lifecycle,
  fetchImpl?: typeof fetch,
): Promise<Diarizer> {
  const resolve = (kind: "segmentation" | "embedding", spec: string, sha256: string) =>
    resolveDiarizationModel(kind, spec, {
      cacheDir: settings.modelCacheDir,
      allowDownload: settings.modelAutoFetch,
      sha256: sha256 || null,
      fetchImpl,
    });
  const segmentation = await resolve(
    "segmentation",
    settings.diarizationSegmentationModel,
    settings.diarizationSegmentationSha256,
  );
  const embedding = await resolve("embedding", settings.diarizationEmbeddingModel, settings.diarizationEmbeddingSha256);
  const diarizer = new Diarizer({
    segmentation,
    embedding,
    threads: settings.diarizationThreads,
    threshold: settings.diarizationThreshold,
    minDurationOn: MIN_DURATION_ON_SECONDS,
    minDurationOff: MIN_DURATION_OFF_SECONDS,
    logger,
  });
  lifecycle.opened("diarization", () => diarizer.close());
  await diarizer.start();
  if (diarizer.description.synthetic) {
    logger.warn("synthetic_diarization_model", {
      ...diarizer.description,
      note: "SYNTHETIC diarization models: they tell two sine tones apart, not voices; speaker labels are MEANINGLESS.",
    });
  }
  return diarizer;
}
