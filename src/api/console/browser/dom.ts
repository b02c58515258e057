/** Small DOM helpers shared by the console's browser modules. */

/** Runs `setup` once the document is parsed (modules are deferred, but a page may load one late). */
export function onReady(setup: () => void): void {
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setup, { once: true });
  else setup();
}

/** The page's CSRF token, rendered by the server into `<meta name="csrf-token">`. */
export function csrfToken(): string {
  return document.querySelector<HTMLMetaElement>('meta[name="csrf-token"]')?.content ?? "";
}

/** Sends a same-origin form POST the way the server-rendered forms do (urlencoded, CSRF token included). */
export async function postForm(action: string, fields: Record<string, string>): Promise<Response> {
  const body = new URLSearchParams({ ...fields, csrf_token: csrfToken() });
  return fetch(action, { method: "POST", body, credentials: "same-origin", headers: { accept: "application/json" } });
}
