/**
 * whisper.cpp GGML models that `WHISPER_MODEL=<name>` and `npm run model:fetch <name>` know, with the SHA-256 of
 * each file as published on Hugging Face (ggerganov/whisper.cpp, the Git LFS object ids).
 */

/** Where the files live. */
export const MODEL_BASE_URL = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main";

/** A downloadable model. */
export interface CatalogModel {
  /** File name on Hugging Face and in the cache, e.g. `ggml-base.en.bin`. */
  file: string;
  sha256: string;
  /** Approximate size, for logs and docs. */
  approxMiB: number;
}

/** Known models by name (`tiny.en`, `base.en`, `small`, `large-v3-turbo`, …). */
export const MODEL_CATALOG: Record<string, CatalogModel> = {
  tiny: {
    file: "ggml-tiny.bin",
    sha256: "be07e048e1e599ad46341c8d2a135645097a538221678b7acdd1b1919c6e1b21",
    approxMiB: 75,
  },
  "tiny.en": {
    file: "ggml-tiny.en.bin",
    sha256: "921e4cf8686fdd993dcd081a5da5b6c365bfde1162e72b08d75ac75289920b1f",
    approxMiB: 75,
  },
  base: {
    file: "ggml-base.bin",
    sha256: "60ed5bc3dd14eea856493d334349b405782ddcaf0028d4b5df4088345fba2efe",
    approxMiB: 142,
  },
  "base.en": {
    file: "ggml-base.en.bin",
    sha256: "a03779c86df3323075f5e796cb2ce5029f00ec8869eee3fdfb897afe36c6d002",
    approxMiB: 142,
  },
  small: {
    file: "ggml-small.bin",
    sha256: "1be3a9b2063867b937e64e2ec7483364a79917e157fa98c5d94b5c1fffea987b",
    approxMiB: 466,
  },
  "small.en": {
    file: "ggml-small.en.bin",
    sha256: "c6138d6d58ecc8322097e0f987c32f1be8bb0a18532a3f88f734d1bbf9c41e5d",
    approxMiB: 466,
  },
  medium: {
    file: "ggml-medium.bin",
    sha256: "6c14d5adee5f86394037b4e4e8b59f1673b6cee10e3cf0b11bbdbee79c156208",
    approxMiB: 1500,
  },
  "medium.en": {
    file: "ggml-medium.en.bin",
    sha256: "cc37e93478338ec7700281a7ac30a10128929eb8f427dda2e865faa8f6da4356",
    approxMiB: 1500,
  },
  "large-v3": {
    file: "ggml-large-v3.bin",
    sha256: "64d182b440b98d5203c4f9bd541544d84c605196c4f7b845dfa11fb23594d1e2",
    approxMiB: 3100,
  },
  "large-v3-turbo": {
    file: "ggml-large-v3-turbo.bin",
    sha256: "1fc70f774d38eb169993ac391eea357ef47c88757ef72ee5943879b7e8e2bc69",
    approxMiB: 1600,
  },
};

/** The download URL of a catalog model. */
export function modelUrl(model: CatalogModel): string {
  return `${MODEL_BASE_URL}/${model.file}`;
}
