/**
 * Intercepts outbound fetch in the Worker's isolate: requests go to registered handlers, and any request no handler
 * claims fails the test (like msw's onUnhandledRequest: "error"). Every request is recorded for wire-format asserts.
 */
import { afterEach, vi } from "vitest";

export interface RecordedRequest {
  method: string;
  url: URL;
  headers: Headers;
  body: Uint8Array;
  request: Request;
}

type Handler = (request: RecordedRequest) => Response | Promise<Response>;

export function interceptFetch() {
  const routes: { method: string; prefix: string; handler: Handler }[] = [];
  const requests: RecordedRequest[] = [];
  const unhandled: string[] = [];
  const realFetch = globalThis.fetch;
  vi.spyOn(globalThis, "fetch").mockImplementation(async (input: RequestInfo | URL, init?: RequestInit) => {
    // the openai SDK probes FormData support with a `data:` URL; that never leaves the isolate
    if (String(input instanceof Request ? input.url : input).startsWith("data:")) return realFetch(input, init);
    const request = new Request(input, init);
    const body = new Uint8Array(await request.clone().arrayBuffer());
    const recorded: RecordedRequest = {
      method: request.method,
      url: new URL(request.url),
      headers: request.headers,
      body,
      request,
    };
    requests.push(recorded);
    const route = routes.find((r) => r.method === request.method && request.url.startsWith(r.prefix));
    if (!route) {
      unhandled.push(`${request.method} ${request.url}`);
      throw new Error(`unhandled outbound request: ${request.method} ${request.url}`);
    }
    // honour aborts (client timeouts) even when the handler never answers
    const signal = init?.signal ?? request.signal;
    return new Promise<Response>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      signal?.addEventListener("abort", () => reject(signal.reason), { once: true });
      Promise.resolve()
        .then(() => route.handler(recorded))
        .then(resolve, reject);
    });
  });
  return {
    requests,
    unhandled,
    on(method: string, prefix: string, handler: Handler) {
      routes.push({ method, prefix, handler });
      return this;
    },
  };
}

afterEach(() => {
  vi.restoreAllMocks();
});

export const json = (body: unknown, status = 200, headers: Record<string, string> = {}) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json", ...headers } });
