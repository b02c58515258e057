/** One structured JSON line per event. Never pass audio, transcript text, secrets or API keys. */
export function log(event: string, fields: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ ts: new Date().toISOString(), event, ...fields }));
}
