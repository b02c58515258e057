import {
  AUDIO_URL_FORBIDDEN,
  checkAudioUrl,
  checkWebhookUrl,
  DEVELOPMENT_ALLOWED_HOSTS,
  INVALID_WEBHOOK_URL,
  MAX_WEBHOOK_URL_LENGTH,
  parseAllowedHosts,
  type WebhookUrlOptions,
  type WebhookUrlRule,
  WILDCARD_DNS_SUFFIXES,
} from "@vtt/pool-contract";
import { describe, expect, it } from "vitest";

const PRODUCTION: WebhookUrlOptions = { development: false, allowedHosts: [] };

describe("what workerd's URL parser does to obfuscated hosts (the guard relies on this)", () => {
  it.each([
    ["https://2130706433/", "127.0.0.1"],
    ["https://0177.0.0.1/", "127.0.0.1"],
    ["https://0x7f.0.0.1/", "127.0.0.1"],
    ["https://0x7f000001/", "127.0.0.1"],
    ["https://0x7f.1/", "127.0.0.1"],
    ["https://127.1/", "127.0.0.1"],
    ["https://127.0.0.1./", "127.0.0.1"],
    ["https://%31%32%37.0.0.1/", "127.0.0.1"],
    ["https://１２７.０.０.１/", "127.0.0.1"],
    ["https://0/", "0.0.0.0"],
    ["https://[::ffff:10.0.0.1]/", "[::ffff:a00:1]"],
    ["https://[0:0:0:0:0:ffff:127.0.0.1]/", "[::ffff:7f00:1]"],
    ["https://[::127.0.0.1]/", "[::7f00:1]"],
    ["https://LOCALHOST./", "localhost."],
  ])("new URL(%s).hostname is %s", (input, hostname) => {
    expect(new URL(input).hostname).toBe(hostname);
  });
});

type Row = [input: string, expected: "ok" | WebhookUrlRule, options?: Partial<WebhookUrlOptions>];

const ROWS: Row[] = [
  // accepted public targets
  ["https://hooks.example.com/transcriptions", "ok"],
  ["https://hooks.example.com:443/path?x=1", "ok"],
  ["https://EXAMPLE.com./cb", "ok"],
  ["https://8.8.8.8/hook", "ok"],
  ["https://[2606:4700:4700::1111]/hook", "ok"],
  ["https://ἀ.example.com/", "ok"], // IDN, punycoded by the parser
  ["https://a.b.c.d.example.co.uk/deep/path#frag", "ok"],
  ["https://172.32.0.1/", "ok"], // just outside 172.16.0.0/12
  ["https://100.128.0.1/", "ok"], // just outside 100.64.0.0/10

  // malformed, scheme, credentials, length
  ["not a url", "malformed"],
  ["/relative/path", "malformed"],
  [" https://hooks.example.com/", "malformed"],
  ["https://hooks.exa\tmple.com/", "malformed"],
  ["https://hooks.example.com/\n", "malformed"],
  ["https://999.1.1.1/", "malformed"],
  ["https://a.com:65536/", "malformed"],
  ["https://[fe80::1%25eth0]/", "malformed"],
  [`https://example.com/${"a".repeat(MAX_WEBHOOK_URL_LENGTH)}`, "too_long"],
  ["http://hooks.example.com/", "scheme"],
  ["ftp://hooks.example.com/", "scheme"],
  ["javascript:alert(1)", "scheme"],
  ["file:///etc/passwd", "scheme"],
  ["data:text/plain,hi", "scheme"],
  ["gopher://hooks.example.com/", "scheme"],
  ["https://user:pass@hooks.example.com/", "credentials"],
  ["https://user@hooks.example.com/", "credentials"],
  ["https://:pass@hooks.example.com/", "credentials"],

  // IPv4 private / special, literal and obfuscated
  ["https://10.0.0.1/", "private_address"],
  ["https://10.255.255.255/", "private_address"],
  ["https://172.16.0.1/", "private_address"],
  ["https://172.31.255.254/", "private_address"],
  ["https://192.168.1.1/", "private_address"],
  ["https://100.64.0.1/", "private_address"],
  ["https://100.100.100.200/", "private_address"], // Alibaba metadata, inside CGNAT space
  ["https://0.0.0.0/", "private_address"],
  ["https://0/", "private_address"],
  ["https://127.0.0.1/", "private_address"],
  ["https://127.255.255.254/", "private_address"],
  ["https://169.254.169.254/latest/meta-data/", "private_address"],
  ["https://192.0.0.192/", "private_address"], // Oracle Cloud metadata
  ["https://224.0.0.1/", "private_address"],
  ["https://255.255.255.255/", "private_address"],
  ["https://198.18.0.1/", "private_address"],
  ["https://192.0.2.1/", "private_address"],
  ["https://2130706433/", "private_address"],
  ["https://0177.0.0.1/", "private_address"],
  ["https://0x7f.0.0.1/", "private_address"],
  ["https://0x7f000001/", "private_address"],
  ["https://127.1/", "private_address"],
  ["https://127.0.0.1./", "private_address"],
  ["https://%31%32%37.0.0.1/", "private_address"],
  ["https://１２７.０.０.１/", "private_address"],
  ["https://0xa9fea9fe/", "private_address"], // 169.254.169.254
  ["https://025177524776/", "private_address"], // 169.254.169.254 in octal
  ["https://167772161/", "private_address"], // 10.0.0.1

  // IPv6
  ["https://[::1]/", "private_address"],
  ["https://[::]/", "private_address"],
  ["https://[0:0:0:0:0:0:0:1]/", "private_address"],
  ["https://[::ffff:10.0.0.1]/", "private_address"],
  ["https://[::ffff:7f00:1]/", "private_address"],
  ["https://[::ffff:127.0.0.1]/", "private_address"],
  ["https://[::ffff:169.254.169.254]/", "private_address"],
  ["https://[::ffff:8.8.8.8]/", "private_address"], // mapped public is still not a real IPv6 destination
  ["https://[::127.0.0.1]/", "private_address"],
  ["https://[64:ff9b::10.0.0.1]/", "private_address"],
  ["https://[fe80::1]/", "private_address"],
  ["https://[febf:ffff::1]/", "private_address"],
  ["https://[fc00::1]/", "private_address"],
  ["https://[fd12:3456:789a::1]/", "private_address"],
  ["https://[fd00:ec2::254]/", "private_address"], // AWS IPv6 metadata
  ["https://[ff02::1]/", "private_address"],
  ["https://[2001:db8::1]/", "private_address"],
  ["https://[2002:7f00:1::]/", "private_address"],
  ["https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/", "private_address"],

  // names
  ["https://localhost/", "blocked_hostname"],
  ["https://LOCALHOST./", "blocked_hostname"],
  ["https://api.localhost/", "blocked_hostname"],
  ["https://metadata.google.internal/computeMetadata/v1/", "blocked_hostname"],
  ["https://metadata/", "blocked_hostname"],
  ["https://service.internal/", "blocked_hostname"],
  ["https://printer.local/", "blocked_hostname"],
  ["https://router.home.arpa/", "blocked_hostname"],
  ["https://db.default.svc.cluster.local/", "blocked_hostname"],
  ["https://kubernetes.default.svc/", "blocked_hostname"],
  ["https://intranet/", "blocked_hostname"],
  ["https://1.0.0.127.in-addr.arpa/", "blocked_hostname"],
  ["https://a..example.com/", "blocked_hostname"],
  ["https://-bad.example.com/", "blocked_hostname"],

  // wildcard-DNS names that resolve to the address they spell, or to loopback (passed as strings before)
  ["https://127.0.0.1.nip.io/", "wildcard_dns"],
  ["https://169.254.169.254.nip.io/latest/meta-data/", "wildcard_dns"],
  ["https://8.8.8.8.nip.io/", "wildcard_dns"], // the service itself is refused, whatever the name spells
  ["https://7f000001.nip.io/", "wildcard_dns"], // hex form
  ["https://app.10.0.0.1.nip.io/", "wildcard_dns"],
  ["https://NIP.IO./", "wildcard_dns"],
  ["https://10-0-0-1.sslip.io/", "wildcard_dns"],
  ["https://127.0.0.1.xip.io/", "wildcard_dns"],
  ["https://localtest.me/", "wildcard_dns"],
  ["https://api.localtest.me/", "wildcard_dns"],
  ["https://lvh.me/", "wildcard_dns"],
  ["https://a.vcap.me/", "wildcard_dns"],
  ["https://192-168-1-1.traefik.me/", "wildcard_dns"],
  ["https://www.localhost.direct/", "wildcard_dns"],
  ["https://make-1.2.3.4-rebind-127.0.0.1-rr.1u.ms/", "wildcard_dns"],
  ["https://7f000001.c0a80001.rbndr.us/", "wildcard_dns"],
  ["https://127.0.0.1.attacker.example/", "wildcard_dns"], // an unknown wildcard service, caught by the spelling
  ["https://169-254-169-254.attacker.example/", "wildcard_dns"],
  ["https://ip-10-0-0-1.attacker.example/", "wildcard_dns"],
  ["https://ec2-54-1-2-3.compute-1.amazonaws.com/", "ok"], // spells a public address
  ["https://8.8.8.8.example.com/", "ok"],
  ["https://notnip.io/", "ok"], // a suffix match needs the dot
  ["https://1.2.3.example.com/", "ok"], // three numeric labels are not an address
  ["https://127.0.0.1.nip.io/", "ok", { allowedHosts: ["127.0.0.1.nip.io"] }], // an operator may still allow one

  // ports
  ["https://hooks.example.com:8443/", "port"],
  ["https://hooks.example.com:80/", "port"],
  ["https://8.8.8.8:22/", "port"],

  // allowedHosts
  ["https://hooks.example.com:8443/", "ok", { allowedHosts: ["hooks.example.com"] }],
  ["https://hooks.example.com:8443/", "ok", { allowedHosts: ["HOOKS.example.com:8443"] }],
  ["https://hooks.example.com:9443/", "port", { allowedHosts: ["hooks.example.com:8443"] }],
  ["https://hooks.example.com/", "ok", { allowedHosts: ["hooks.example.com:443"] }],
  ["https://receiver.internal:9000/", "ok", { allowedHosts: ["receiver.internal:9000"] }],
  ["https://10.1.2.3/", "ok", { allowedHosts: ["10.1.2.3"] }],
  ["https://10.1.2.4/", "private_address", { allowedHosts: ["10.1.2.3"] }],
  ["https://[fd00::5]:8443/", "ok", { allowedHosts: ["[fd00::5]:8443"] }],
  ["https://evil.example.com/", "ok", { allowedHosts: ["not a host", "a/b"] }], // junk entries match nothing
  ["https://localhost/", "blocked_hostname", { allowedHosts: ["not a host"] }],
  ["http://receiver.internal/", "scheme", { allowedHosts: ["receiver.internal"] }], // never lifts https-only
  ["https://u:p@receiver.internal/", "credentials", { allowedHosts: ["receiver.internal"] }],

  // development
  ["http://localhost:8787/hook", "ok", { development: true }],
  ["http://127.0.0.1:9000/hook", "ok", { development: true }],
  ["http://0x7f.1:9000/hook", "ok", { development: true }], // same host after canonicalisation
  ["https://localhost/", "ok", { development: true }],
  ["http://hooks.example.com/", "ok", { development: true }],
  ["http://10.0.0.1/", "private_address", { development: true }],
  ["http://[::1]:8787/", "private_address", { development: true }],
  ["ftp://localhost/", "scheme", { development: true }],
];

describe("checkWebhookUrl", () => {
  it("has a substantial table", () => {
    expect(ROWS.length).toBeGreaterThanOrEqual(40);
  });

  it.each(ROWS)("%s → %s %o", (input, expected, overrides) => {
    const result = checkWebhookUrl(input, { ...PRODUCTION, ...overrides });
    if (expected === "ok") {
      expect(result).toMatchObject({ ok: true });
      if (result.ok) expect(result.url).toBeInstanceOf(URL);
    } else {
      expect(result).toMatchObject({ ok: false, code: INVALID_WEBHOOK_URL, rule: expected });
      if (!result.ok) expect(result.reason.length).toBeGreaterThan(10);
    }
  });

  it("returns the canonical URL to store and call", () => {
    const result = checkWebhookUrl("HTTPS://Hooks.Example.COM:443/a/../b?q=1", PRODUCTION);
    expect(result.ok && result.url.href).toBe("https://hooks.example.com/b?q=1");
  });

  it("names the embedded address in the reason for IPv4-mapped IPv6", () => {
    const result = checkWebhookUrl("https://[::ffff:a9fe:a9fe]/", PRODUCTION);
    expect(result).toMatchObject({ ok: false, rule: "private_address" });
    expect(!result.ok && result.reason).toMatch(/IPv4-mapped.*169\.254\.169\.254/);
  });

  it("explains the port rule", () => {
    const result = checkWebhookUrl("https://hooks.example.com:8443/", PRODUCTION);
    expect(!result.ok && result.reason).toMatch(/port 8443 .*hooks\.example\.com:8443/);
  });
});

describe("WILDCARD_DNS_SUFFIXES", () => {
  it.each(WILDCARD_DNS_SUFFIXES.map((suffix) => [suffix]))("refuses %s and its subdomains in production", (suffix) => {
    for (const host of [suffix, `127.0.0.1.${suffix}`, `x.${suffix}`]) {
      expect(checkWebhookUrl(`https://${host}/`, PRODUCTION)).toMatchObject({ ok: false, rule: "wildcard_dns" });
    }
  });
});

describe("parseAllowedHosts", () => {
  it("parses and canonicalises host and host:port entries", () => {
    expect(parseAllowedHosts(" Hooks.Example.com , 10.0.0.7:8443,[FD00::5]:9000,0x7f.1 ", false)).toEqual([
      "hooks.example.com",
      "10.0.0.7:8443",
      "[fd00::5]:9000",
      "127.0.0.1",
    ]);
  });

  it("is empty for an unset variable and adds the development hosts in development", () => {
    expect(parseAllowedHosts(undefined, false)).toEqual([]);
    expect(parseAllowedHosts("", true)).toEqual([...DEVELOPMENT_ALLOWED_HOSTS]);
    expect(parseAllowedHosts("localhost", true)).toEqual(["localhost", "127.0.0.1"]);
  });

  it.each(["https://hooks.example.com", "hooks.example.com/path", "user@hooks.example.com", "host:99999", "a b"])(
    "throws on a bad entry %s",
    (entry) => {
      expect(() => parseAllowedHosts(entry, false)).toThrow(RangeError);
    },
  );
});

describe("checkAudioUrl (audio by URL and its redirects)", () => {
  it("applies the webhook rules with its own code", () => {
    for (const url of [
      "http://10.0.0.1/a.wav",
      "http://169.254.169.254/latest/meta-data/",
      "http://[::ffff:7f00:1]/a.wav",
      "https://127.0.0.1.nip.io/a.wav",
      "https://user:pw@media.example.com/a.wav",
      "https://media.example.com:8443/a.wav",
      "https://localhost/a.wav",
    ]) {
      const check = checkAudioUrl(url, PRODUCTION);
      expect(check.ok, url).toBe(false);
      if (!check.ok) expect(check.code).toBe(AUDIO_URL_FORBIDDEN);
    }
  });

  it("allows http as well as https in production, and nothing else", () => {
    expect(checkAudioUrl("http://media.example.com/a.wav", PRODUCTION).ok).toBe(true);
    expect(checkAudioUrl("https://media.example.com/a.wav", PRODUCTION).ok).toBe(true);
    for (const url of [
      "ftp://media.example.com/a",
      "file:///etc/passwd",
      "data:audio/wav;base64,AA",
      "ws://a.example/",
    ]) {
      const check = checkAudioUrl(url, PRODUCTION);
      expect(check.ok ? null : check.rule, url).toBe("scheme");
    }
    // webhooks stay https-only
    expect(checkWebhookUrl("http://media.example.com/a.wav", PRODUCTION).ok).toBe(false);
  });

  it("points credentials at audio_url_headers, and allows loopback in development and operator hosts", () => {
    const check = checkAudioUrl("https://u:p@media.example.com/a.wav", PRODUCTION);
    expect(check.ok ? "" : check.reason).toContain("audio_url_headers");
    expect(checkAudioUrl("http://127.0.0.1:8080/a.wav", { development: true, allowedHosts: [] }).ok).toBe(true);
    expect(checkAudioUrl("http://127.0.0.1:8080/a.wav", PRODUCTION).ok).toBe(false);
    const allowed = parseAllowedHosts("media.internal:8443", false, "AUDIO_FETCH_ALLOWED_HOSTS");
    expect(checkAudioUrl("https://media.internal:8443/a.wav", { development: false, allowedHosts: allowed }).ok).toBe(
      true,
    );
    expect(() => parseAllowedHosts("a/b", false, "AUDIO_FETCH_ALLOWED_HOSTS")).toThrow(/AUDIO_FETCH_ALLOWED_HOSTS/);
  });
});
