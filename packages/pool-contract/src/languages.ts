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

/**
 * Whisper's language names → ISO 639-1 codes. OpenAI-compatible servers answer `verbose_json` with the language
 * as a name ("english"), while we store codes.
 */
const NAME_TO_CODE: Record<string, string> = {
  english: "en", chinese: "zh", german: "de", spanish: "es", russian: "ru", korean: "ko", french: "fr", japanese: "ja",
  portuguese: "pt", turkish: "tr", polish: "pl", catalan: "ca", dutch: "nl", arabic: "ar", swedish: "sv", italian: "it",
  indonesian: "id", hindi: "hi", finnish: "fi", vietnamese: "vi", hebrew: "he", ukrainian: "uk", greek: "el",
  malay: "ms", czech: "cs", romanian: "ro", danish: "da", hungarian: "hu", tamil: "ta", norwegian: "no", thai: "th",
  urdu: "ur", croatian: "hr", bulgarian: "bg", lithuanian: "lt", latin: "la", maori: "mi", malayalam: "ml",
  welsh: "cy", slovak: "sk", telugu: "te", persian: "fa", latvian: "lv", bengali: "bn", serbian: "sr",
  azerbaijani: "az", slovenian: "sl", kannada: "kn", estonian: "et", macedonian: "mk", breton: "br", basque: "eu",
  icelandic: "is", armenian: "hy", nepali: "ne", mongolian: "mn", bosnian: "bs", kazakh: "kk", albanian: "sq",
  swahili: "sw", galician: "gl", marathi: "mr", punjabi: "pa", sinhala: "si", khmer: "km", shona: "sn", yoruba: "yo",
  somali: "so", afrikaans: "af", occitan: "oc", georgian: "ka", belarusian: "be", tajik: "tg", sindhi: "sd",
  gujarati: "gu", amharic: "am", yiddish: "yi", lao: "lo", uzbek: "uz", faroese: "fo", "haitian creole": "ht",
  pashto: "ps", turkmen: "tk", nynorsk: "nn", maltese: "mt", sanskrit: "sa", luxembourgish: "lb", myanmar: "my",
  tibetan: "bo", tagalog: "tl", malagasy: "mg", assamese: "as", tatar: "tt", hawaiian: "haw", lingala: "ln",
  hausa: "ha", bashkir: "ba", javanese: "jv", sundanese: "su", cantonese: "yue",
};

/** A language name or code as servers report it → an ISO code, or null when unknown. */
export function languageCode(value: string | null | undefined): string | null {
  if (!value) return null;
  const lower = value.trim().toLowerCase();
  if (/^[a-z]{2,3}$/.test(lower)) return lower;
  return NAME_TO_CODE[lower] ?? null;
}
