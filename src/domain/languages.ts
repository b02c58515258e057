/** ISO 639-1 codes of the languages Whisper-family models transcribe (the set every provider here accepts). */
export const SUPPORTED_LANGUAGES = new Set([
  "af", "am", "ar", "as", "az", "ba", "be", "bg", "bn", "bo", "br", "bs", "ca", "cs", "cy", "da", "de", "el", "en",
  "es", "et", "eu", "fa", "fi", "fo", "fr", "gl", "gu", "ha", "he", "hi", "hr", "ht", "hu", "hy", "id", "is", "it",
  "ja", "jv", "ka", "kk", "km", "kn", "ko", "la", "lb", "ln", "lo", "lt", "lv", "mg", "mi", "mk", "ml", "mn", "mr",
  "ms", "mt", "my", "ne", "nl", "nn", "no", "oc", "pa", "pl", "ps", "pt", "ro", "ru", "sa", "sd", "si", "sk", "sl",
  "sn", "so", "sq", "sr", "su", "sv", "sw", "ta", "te", "tg", "th", "tk", "tl", "tr", "tt", "uk", "ur", "uz", "vi",
  "yi", "yo", "zh", "yue",
]);

/** `auto` (or absent) means detect; otherwise a supported ISO 639-1 code, case-insensitive. */
export function normaliseLanguage(value: string | undefined | null): string | null | undefined {
  if (value === undefined || value === null || value === "" || value.toLowerCase() === "auto") return null;
  const code = value.toLowerCase();
  return SUPPORTED_LANGUAGES.has(code) ? code : undefined;
}
