/**
 * Outbound URL vetting against server-side request forgery: the Worker checks webhook targets with it, the pool
 * checks the audio URLs it fetches (they come from signed dispatches, so this is defence in depth).
 *
 * The URL is parsed with the WHATWG parser first, which already canonicalises every IPv4 spelling a resolver would
 * accept (`2130706433`, `0177.0.0.1`, `0x7f.1`, `127.1`, `%31%32%37.0.0.1`, full-width digits) to dotted decimal and
 * compresses IPv6, so the checks below run on the same host string `fetch` will use. What this cannot see is DNS:
 * a public name that resolves to a private address. The well-known wildcard-DNS services that map names to addresses
 * (`10.0.0.1.nip.io`, `localtest.me`, …) and names that spell a private IPv4 address in their labels are refused by
 * name, but any other name a caller controls can still resolve anywhere (DNS rebinding). Workers' `fetch` cannot
 * reach private networks, which is the second line; a deployment that sends webhooks from anywhere else must also
 * filter at connect time (an egress proxy such as smokescreen).
 */

export const INVALID_WEBHOOK_URL = "invalid_webhook_url";
/** Longest webhook URL accepted; longer ones are almost always abuse or a mistake. */
export const MAX_WEBHOOK_URL_LENGTH = 2048;
/** Hosts always allowed (any port, http too) in development so local receivers work. */
export const DEVELOPMENT_ALLOWED_HOSTS: readonly string[] = Object.freeze(["localhost", "127.0.0.1"]);

/** Which rule refused a URL: stable, for tests and metrics; `reason` is the human explanation. */
export type WebhookUrlRule =
  | "malformed"
  | "too_long"
  | "scheme"
  | "credentials"
  | "port"
  | "private_address"
  | "blocked_hostname"
  | "wildcard_dns";

export type WebhookUrlCheck =
  { ok: true; url: URL } | { ok: false; code: typeof INVALID_WEBHOOK_URL; rule: WebhookUrlRule; reason: string };

export interface WebhookUrlOptions {
  /** Development also accepts `http:` and always allows `DEVELOPMENT_ALLOWED_HOSTS`. */
  development: boolean;
  /**
   * Operator-trusted hosts (`WEBHOOK_ALLOWED_HOSTS`): entries `host` (any port) or `host:port` (that port only).
   * A matching host skips the private-address, hostname and port rules, but never the scheme or credentials rules.
   * Entries that do not parse as a host never match.
   */
  allowedHosts: readonly string[];
}

interface Ipv4Range {
  base: number;
  prefix: number;
  label: string;
}

// Everything outside public unicast: RFC 6890 special-purpose registry plus multicast/reserved space.
const BLOCKED_IPV4_RANGES: readonly Ipv4Range[] = [
  { base: ipv4(0, 0, 0, 0), prefix: 8, label: "an unspecified/“this network” address (0.0.0.0/8)" },
  { base: ipv4(10, 0, 0, 0), prefix: 8, label: "a private address (10.0.0.0/8)" },
  { base: ipv4(100, 64, 0, 0), prefix: 10, label: "a carrier-grade NAT address (100.64.0.0/10)" },
  { base: ipv4(127, 0, 0, 0), prefix: 8, label: "a loopback address (127.0.0.0/8)" },
  { base: ipv4(169, 254, 0, 0), prefix: 16, label: "a link-local / cloud metadata address (169.254.0.0/16)" },
  { base: ipv4(172, 16, 0, 0), prefix: 12, label: "a private address (172.16.0.0/12)" },
  { base: ipv4(192, 0, 0, 0), prefix: 24, label: "an IETF protocol assignment (192.0.0.0/24)" },
  { base: ipv4(192, 0, 2, 0), prefix: 24, label: "a documentation address (192.0.2.0/24)" },
  { base: ipv4(192, 88, 99, 0), prefix: 24, label: "a 6to4 relay anycast address (192.88.99.0/24)" },
  { base: ipv4(192, 168, 0, 0), prefix: 16, label: "a private address (192.168.0.0/16)" },
  { base: ipv4(198, 18, 0, 0), prefix: 15, label: "a benchmarking address (198.18.0.0/15)" },
  { base: ipv4(198, 51, 100, 0), prefix: 24, label: "a documentation address (198.51.100.0/24)" },
  { base: ipv4(203, 0, 113, 0), prefix: 24, label: "a documentation address (203.0.113.0/24)" },
  { base: ipv4(224, 0, 0, 0), prefix: 4, label: "a multicast address (224.0.0.0/4)" },
  { base: ipv4(240, 0, 0, 0), prefix: 4, label: "a reserved or broadcast address (240.0.0.0/4)" },
];

// Exact names that reach the host itself or a cloud metadata service.
const BLOCKED_HOSTNAMES: ReadonlySet<string> = new Set([
  "localhost",
  "metadata",
  "metadata.google.internal",
  "metadata.goog",
  "instance-data",
  "instance-data.ec2.internal",
  "kubernetes.default",
  "kubernetes.default.svc",
]);

// Suffixes reserved for private or link-local naming (RFC 6761, RFC 6762, RFC 8375, cluster DNS).
const BLOCKED_HOSTNAME_SUFFIXES: readonly string[] = [
  ".localhost",
  ".local",
  ".localdomain",
  ".internal",
  ".intranet",
  ".private",
  ".corp",
  ".lan",
  ".home",
  ".home.arpa",
  ".in-addr.arpa",
  ".ip6.arpa",
  ".svc",
  ".cluster.local",
];

/**
 * Public wildcard-DNS services whose names resolve to whatever address the name spells (`127.0.0.1.nip.io`,
 * `10-0-0-1.sslip.io`, `7f000001.nip.io`) or always to loopback (`localtest.me`, `lvh.me`), plus DNS-rebinding
 * services that answer with a caller-chosen address. The name and every subdomain are refused. Exported so the pool's
 * outbound fetches (audio URLs) can apply the same list.
 */
export const WILDCARD_DNS_SUFFIXES: readonly string[] = Object.freeze([
  "nip.io",
  "sslip.io",
  "xip.io",
  "traefik.me",
  "localtest.me",
  "lvh.me",
  "vcap.me",
  "fuf.me",
  "lacolhost.com",
  "localhost.direct",
  "local.gd",
  "backname.io",
  "1u.ms",
  "rbndr.us",
]);

const DNS_LABEL = /^(?!-)[a-z0-9_-]{1,63}(?<!-)$/;
// Tabs and newlines are silently deleted by the URL parser; refuse them so what is stored is what was checked.
// eslint-disable-next-line no-control-regex
const CONTROL_OR_SPACE = /[\u0000-\u0020\u007f-\u009f]/;

/**
 * Decides whether `input` may be stored as a webhook target.
 * Rules, in order: length; no whitespace/control characters; parses as a URL; `https:` (also `http:` in
 * development); no user name or password; then, unless the host is allowed by `options.allowedHosts`: no blocked
 * hostname (localhost, metadata names, private suffixes, single-label names), no IP literal outside public unicast
 * (IPv4 and IPv6, including IPv4-mapped/compatible/NAT64/6to4/Teredo forms), no wildcard-DNS name
 * (`WILDCARD_DNS_SUFFIXES`, or labels spelling a non-public IPv4 address), and no non-default port.
 */
export function checkWebhookUrl(input: string, options: WebhookUrlOptions): WebhookUrlCheck {
  const check = checkOutboundUrl(input, {
    ...options,
    schemes: options.development ? ["https:", "http:"] : ["https:"],
    credentialsHint: "put secrets in the signature",
  });
  return check.ok ? check : { ...check, code: INVALID_WEBHOOK_URL };
}

export const AUDIO_URL_FORBIDDEN = "audio_url_forbidden";

export type AudioUrlCheck =
  { ok: true; url: URL } | { ok: false; code: typeof AUDIO_URL_FORBIDDEN; rule: WebhookUrlRule; reason: string };

/**
 * Decides whether the Worker may fetch `input` as a job's audio (`audio_url`, and every redirect target): the
 * webhook rules, except that `http:` is allowed everywhere (public audio hosts still serve it), and `allowedHosts`
 * comes from `AUDIO_FETCH_ALLOWED_HOSTS`.
 */
export function checkAudioUrl(input: string, options: WebhookUrlOptions): AudioUrlCheck {
  const check = checkOutboundUrl(input, {
    ...options,
    schemes: ["https:", "http:"],
    credentialsHint: "send them in audio_url_headers",
  });
  return check.ok ? check : { ...check, code: AUDIO_URL_FORBIDDEN };
}

interface OutboundUrlOptions extends WebhookUrlOptions {
  schemes: readonly string[];
  /** where the refusal of a URL with credentials points the caller */
  credentialsHint: string;
}

type OutboundUrlCheck = { ok: true; url: URL } | { ok: false; rule: WebhookUrlRule; reason: string };

function checkOutboundUrl(input: string, options: OutboundUrlOptions): OutboundUrlCheck {
  if (input.length > MAX_WEBHOOK_URL_LENGTH) {
    return refuse("too_long", `URL is longer than ${MAX_WEBHOOK_URL_LENGTH} characters`);
  }
  if (CONTROL_OR_SPACE.test(input)) {
    return refuse("malformed", "URL must not contain spaces or control characters");
  }
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    return refuse("malformed", "not an absolute URL");
  }

  if (!options.schemes.includes(url.protocol)) {
    return refuse("scheme", `scheme must be ${options.schemes.map((s) => s.slice(0, -1)).join(" or ")}`);
  }
  if (url.username !== "" || url.password !== "") {
    return refuse("credentials", `URL must not contain a user name or password; ${options.credentialsHint}`);
  }

  const host = url.hostname;
  const port = url.port === "" ? defaultPort(url.protocol) : Number(url.port);
  const trusted = [...options.allowedHosts, ...(options.development ? DEVELOPMENT_ALLOWED_HOSTS : [])];
  if (isAllowedHost(host, port, trusted)) return { ok: true, url };

  const addressProblem = host.startsWith("[") ? ipv6Problem(host.slice(1, -1)) : ipv4LiteralProblem(host);
  if (addressProblem !== undefined) {
    return refuse("private_address", `host ${host} is ${addressProblem}`);
  }
  if (!host.startsWith("[") && parseDottedIpv4(host) === undefined) {
    const nameProblem = hostnameProblem(host);
    if (nameProblem !== undefined) return refuse("blocked_hostname", `host ${host} ${nameProblem}`);
    const wildcardProblem = wildcardDnsProblem(host);
    if (wildcardProblem !== undefined) return refuse("wildcard_dns", `host ${host} ${wildcardProblem}`);
  }
  if (url.port !== "") {
    return refuse(
      "port",
      `port ${url.port} is not allowed; use the default port or ask for ${host}:${url.port} to be allowed`,
    );
  }
  return { ok: true, url };
}

/**
 * Parses `WEBHOOK_ALLOWED_HOSTS` (comma list of `host` or `host:port`) into canonical entries, adding
 * `DEVELOPMENT_ALLOWED_HOSTS` in development.
 * @throws RangeError naming an entry that is not a host or host:port, so a config typo fails at start-up.
 */
export function parseAllowedHosts(
  list: string | undefined,
  development: boolean,
  settingName = "WEBHOOK_ALLOWED_HOSTS",
): string[] {
  const entries = (list ?? "")
    .split(",")
    .map((entry) => entry.trim())
    .filter(Boolean);
  const canonical = entries.map((entry) => {
    const parsed = canonicalHostEntry(entry);
    if (parsed === undefined) throw new RangeError(`${settingName} entry "${entry}" is not host or host:port`);
    return parsed.port === undefined ? parsed.host : `${parsed.host}:${parsed.port}`;
  });
  if (development) canonical.push(...DEVELOPMENT_ALLOWED_HOSTS);
  return [...new Set(canonical)];
}

function refuse(rule: WebhookUrlRule, reason: string): OutboundUrlCheck {
  return { ok: false, rule, reason };
}

function defaultPort(protocol: string): number {
  return protocol === "http:" ? 80 : 443;
}

function isAllowedHost(host: string, port: number, allowed: readonly string[]): boolean {
  const bareHost = stripTrailingDot(host);
  return allowed.some((entry) => {
    const parsed = canonicalHostEntry(entry);
    if (parsed === undefined || stripTrailingDot(parsed.host) !== bareHost) return false;
    return parsed.port === undefined || parsed.port === port;
  });
}

/** Canonicalises `host` / `host:port` / `[v6]:port` with the URL parser, so `LOCALHOST` or `0x7f.1` match too. */
function canonicalHostEntry(entry: string): { host: string; port: number | undefined } | undefined {
  if (entry === "" || /[/?#@\s]/.test(entry)) return undefined;
  try {
    const url = new URL(`https://${entry}`);
    if (url.pathname !== "/" || url.hostname === "") return undefined;
    const explicitPort = /:\d+$/.test(entry) ? Number(entry.slice(entry.lastIndexOf(":") + 1)) : undefined;
    return { host: url.hostname, port: explicitPort };
  } catch {
    return undefined;
  }
}

function stripTrailingDot(host: string): string {
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

function hostnameProblem(host: string): string | undefined {
  const name = stripTrailingDot(host);
  if (name.length === 0 || name.length > 253) return "is not a valid DNS name";
  const labels = name.split(".");
  if (!labels.every((label) => DNS_LABEL.test(label))) return "is not a valid DNS name";
  if (BLOCKED_HOSTNAMES.has(name)) return "is a local or cloud-metadata name";
  if (BLOCKED_HOSTNAME_SUFFIXES.some((suffix) => name.endsWith(suffix)))
    return "is under a private or local-only domain";
  if (labels.length < 2) return "is a single-label name, which only resolves on a local network";
  return undefined;
}

// `127.0.0.1.example.com` (four numeric labels) or `10-0-0-1.example.com` / `ip-10-0-0-1` (dashes inside a label)
const DOTTED_IPV4_LABELS = /(?:^|\.)(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?=\.|$)/;
const DASHED_IPV4_LABEL = /(?:^|[^0-9])(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})(?![0-9])/;

/**
 * Reason a DNS name is a wildcard-DNS name: under a known wildcard service, or spelling an address outside public
 * unicast in its labels (the form every such service uses, so unknown ones are caught too). A name spelling a public
 * address (`ec2-54-1-2-3.compute.amazonaws.com`) is not refused.
 */
function wildcardDnsProblem(host: string): string | undefined {
  const name = stripTrailingDot(host);
  const service = WILDCARD_DNS_SUFFIXES.find((suffix) => name === suffix || name.endsWith(`.${suffix}`));
  if (service !== undefined) return `is under ${service}, a wildcard-DNS service that maps names to any address`;
  for (const label of name.split(".")) {
    const dashed = DASHED_IPV4_LABEL.exec(label);
    const problem = dashed ? embeddedIpv4Problem(dashed) : undefined;
    if (problem !== undefined) return `spells ${problem} in its labels, as wildcard-DNS names do`;
  }
  const dotted = DOTTED_IPV4_LABELS.exec(name);
  const problem = dotted ? embeddedIpv4Problem(dotted) : undefined;
  return problem === undefined ? undefined : `spells ${problem} in its labels, as wildcard-DNS names do`;
}

function embeddedIpv4Problem(match: RegExpExecArray): string | undefined {
  const octets = match.slice(1, 5).map(Number);
  if (octets.some((octet) => octet > 255)) return undefined;
  return ipv4Problem(ipv4(octets[0]!, octets[1]!, octets[2]!, octets[3]!));
}

/** Reason an IPv4 literal host is unsafe, or `undefined` for a public address or a non-IPv4 host. */
function ipv4LiteralProblem(host: string): string | undefined {
  const address = parseDottedIpv4(stripTrailingDot(host));
  return address === undefined ? undefined : ipv4Problem(address);
}

function ipv4Problem(address: number): string | undefined {
  for (const range of BLOCKED_IPV4_RANGES) {
    if (inRange(address, range.base, range.prefix)) return range.label;
  }
  return undefined;
}

function inRange(address: number, base: number, prefix: number): boolean {
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  return (address & mask) >>> 0 === (base & mask) >>> 0;
}

function ipv4(a: number, b: number, c: number, d: number): number {
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;
}

/** Strict dotted-decimal parse (what the URL parser emits for every IPv4 form); `undefined` otherwise. */
function parseDottedIpv4(text: string): number | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (!match) return undefined;
  const octets = match.slice(1).map(Number);
  if (octets.some((octet) => octet > 255)) return undefined;
  return ipv4(octets[0]!, octets[1]!, octets[2]!, octets[3]!);
}

/** Parses an IPv6 literal (no brackets) into eight 16-bit groups; accepts `::` and a trailing dotted IPv4. */
function parseIpv6(text: string): number[] | undefined {
  let body = text.toLowerCase();
  const lastColon = body.lastIndexOf(":");
  if (body.includes(".", lastColon)) {
    // Rewrite a trailing dotted quad (`::ffff:10.0.0.1`) as its two hex groups, then parse uniformly.
    const embedded = parseDottedIpv4(body.slice(lastColon + 1));
    if (embedded === undefined) return undefined;
    body = `${body.slice(0, lastColon + 1)}${(embedded >>> 16).toString(16)}:${(embedded & 0xffff).toString(16)}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const toGroups = (part: string) => (part === "" ? [] : part.split(":"));
  const head = toGroups(halves[0]!);
  const rest = halves.length === 2 ? toGroups(halves[1]!) : [];
  const parsePart = (group: string) => (/^[0-9a-f]{1,4}$/.test(group) ? parseInt(group, 16) : Number.NaN);
  const headGroups = head.map(parsePart);
  const restGroups = rest.map(parsePart);
  const missing = 8 - headGroups.length - restGroups.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const groups = [...headGroups, ...new Array<number>(halves.length === 2 ? missing : 0).fill(0), ...restGroups];
  return groups.some(Number.isNaN) ? undefined : groups;
}

/**
 * Reason an IPv6 literal is unsafe. Only global unicast (2000::/3) can be public, and inside it the ranges that
 * embed or tunnel to IPv4 or are reserved are refused too; an embedded private IPv4 is named in the reason.
 */
function ipv6Problem(literal: string): string | undefined {
  const groups = parseIpv6(literal);
  if (groups === undefined) return "an unparseable IPv6 address";
  const [g0, g1, g2, g3, g4, g5, g6, g7] = groups as [number, number, number, number, number, number, number, number];
  const embeddedIpv4 = ((g6 << 16) | g7) >>> 0;
  const describeEmbedded = (kind: string) => {
    const inner = ipv4Problem(embeddedIpv4);
    const dotted = `${g6 >>> 8}.${g6 & 0xff}.${g7 >>> 8}.${g7 & 0xff}`;
    return inner === undefined ? `${kind} (${dotted})` : `${kind} of ${inner.replace(/^an? /, "")} (${dotted})`;
  };
  const upperZero = g0 === 0 && g1 === 0 && g2 === 0 && g3 === 0 && g4 === 0;

  if (upperZero && g5 === 0 && g6 === 0 && g7 === 0) return "the unspecified address (::)";
  if (upperZero && g5 === 0 && g6 === 0 && g7 === 1) return "the loopback address (::1)";
  if (upperZero && g5 === 0xffff) return describeEmbedded("an IPv4-mapped address");
  if (upperZero && g5 === 0) return describeEmbedded("an IPv4-compatible address");
  if (g0 === 0x64 && g1 === 0xff9b) return describeEmbedded("a NAT64 address");
  if ((g0 & 0xfe00) === 0xfc00) return "a unique-local address (fc00::/7)";
  if ((g0 & 0xffc0) === 0xfe80) return "a link-local address (fe80::/10)";
  if ((g0 & 0xffc0) === 0xfec0) return "a site-local address (fec0::/10)";
  if ((g0 & 0xff00) === 0xff00) return "a multicast address (ff00::/8)";
  if ((g0 & 0xe000) !== 0x2000) return "outside global unicast (2000::/3)";
  if (g0 === 0x2001 && g1 === 0x0db8) return "a documentation address (2001:db8::/32)";
  if (g0 === 0x2001 && g1 === 0) return "a Teredo tunnel address (2001::/32)";
  if (g0 === 0x2001 && (g1 & 0xfff0) === 0x0010) return "an ORCHID address (2001:10::/28)";
  if (g0 === 0x2001 && (g1 & 0xfff0) === 0x0020) return "an ORCHIDv2 address (2001:20::/28)";
  if (g0 === 0x2002) return "a 6to4 address (2002::/16), which tunnels to an arbitrary IPv4 host";
  return undefined;
}
