/**
 * The console's server-rendered pages (Hono JSX). JSX escapes every interpolated value, so file names, metadata
 * and error messages from callers and providers render as text; nothing here uses raw HTML.
 */
import type { Child } from "hono/jsx";

export const CSS_PATH = "/console/assets/console.css";

/** The URL of a bundled browser module (src/api/console/browser/NAME.entry.ts → assets.generated.ts). */
export const scriptPath = (name: string) => `/console/assets/${name}.js`;

/** The URL of a stylesheet a browser module's bundle emitted (e.g. the chart library's rules). */
export const stylePath = (name: string) => `/console/assets/${name}.css`;

/** The operator's pages, in the navigation of an operator session (src/api/console/operator.tsx). */
const OPERATOR_NAV = [
  ["/console/operator/health", "Health"],
  ["/console/operator/breakers", "Breakers"],
  ["/console/operator/dead-letters", "Dead letters"],
  ["/console/operator/drift", "Drift"],
  ["/console/operator/quality", "Quality"],
  ["/console/operator/tenants", "Tenants and keys"],
] as const;

function Document(props: {
  title: string;
  scripts?: string[];
  styles?: string[];
  csrfToken?: string;
  children: Child;
}) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · Voice-to-text console`}</title>
        <link rel="stylesheet" href={CSS_PATH} />
        {(props.styles ?? []).map((name) => (
          <link rel="stylesheet" href={stylePath(name)} />
        ))}
        {props.csrfToken ? <meta name="csrf-token" content={props.csrfToken} /> : null}
        {["local-time", ...(props.scripts ?? [])].map((name) => (
          <script type="module" src={scriptPath(name)} />
        ))}
      </head>
      <body>{props.children}</body>
    </html>
  );
}

/** Header (who is signed in, sign-out), navigation and the page's main content. */
export function Shell(props: {
  title: string;
  who: string;
  csrfToken: string;
  scripts?: string[];
  styles?: string[];
  /** an operator session's navigation lists the operator's pages */
  kind?: "tenant" | "operator";
  /** the path of the page shown, marked in the navigation */
  current?: string;
  children: Child;
}) {
  return (
    <Document title={props.title} scripts={props.scripts} styles={props.styles} csrfToken={props.csrfToken}>
      <header>
        <span class="who" data-testid="who">
          {props.who}
        </span>
        <form class="sign-out" method="post" action="/console/sign-out">
          <input type="hidden" name="csrf_token" value={props.csrfToken} />
          <button type="submit">Sign out</button>
        </form>
      </header>
      <nav aria-label="Console">
        <ul>
          <li>
            <a href="/console">Home</a>
          </li>
          {props.kind === "operator"
            ? OPERATOR_NAV.map(([href, label]) => (
                <li>
                  <a href={href} aria-current={href === props.current ? "page" : undefined}>
                    {label}
                  </a>
                </li>
              ))
            : null}
        </ul>
      </nav>
      <main>
        <h1>{props.title}</h1>
        {props.children}
      </main>
    </Document>
  );
}

export function SignInPage(props: { error?: string }) {
  return (
    <Document title="Sign in">
      <main>
        <h1>Sign in</h1>
        <p>
          Sign in with a tenant API key that has the <code>transcriptions:read</code> scope, or with the operator key.
          The key is exchanged for a short-lived session; the browser never stores it.
        </p>
        {props.error ? (
          <p class="error" role="alert" data-testid="sign-in-error">
            {props.error}
          </p>
        ) : null}
        <form method="post" action="/console/sign-in">
          <label for="api_key">API key</label>
          <input id="api_key" name="api_key" type="password" autocomplete="off" required autofocus />
          <p>
            <button type="submit">Sign in</button>
          </p>
        </form>
      </main>
    </Document>
  );
}

/** A UTC timestamp as text, inside `<time>` so the local-time module can show it in the reader's zone. */
export function Time(props: { ms: number }) {
  const iso = new Date(props.ms).toISOString();
  return <time datetime={iso}>{iso.replace("T", " ").slice(0, 19) + " UTC"}</time>;
}
