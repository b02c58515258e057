import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

import { describe, expect, it } from "vitest";

import { ConfigError, configPath, resolveConnection } from "../src/cli/config.ts";

const dir = mkdtempSync(path.join(tmpdir(), "vtt-client-config-"));
const file = path.join(dir, "config.json");
writeFileSync(
  file,
  JSON.stringify({
    default_profile: "local",
    profiles: {
      local: { api_url: "http://127.0.0.1:8787", api_key: "vtt_live_local" },
      prod: { api_url: "https://vtt.example.com", api_key: "vtt_live_prod" },
    },
  }),
);

describe("resolveConnection", () => {
  it("prefers flags, then VTT_API_URL / VTT_API_KEY, then the profile", () => {
    const env = { VTT_CONFIG: file, VTT_API_KEY: "vtt_live_env" };
    expect(resolveConnection({}, env)).toEqual({ baseUrl: "http://127.0.0.1:8787", apiKey: "vtt_live_env" });
    expect(resolveConnection({ key: "vtt_live_flag", url: "https://x.test" }, env)).toEqual({
      baseUrl: "https://x.test",
      apiKey: "vtt_live_flag",
    });
  });

  it("treats an empty variable as unset", () => {
    const env = { VTT_CONFIG: file, VTT_API_URL: "", VTT_API_KEY: "", VTT_PROFILE: "" };
    expect(resolveConnection({}, env)).toEqual({ baseUrl: "http://127.0.0.1:8787", apiKey: "vtt_live_local" });
  });

  it("picks --profile, else VTT_PROFILE, else the file's default_profile", () => {
    expect(resolveConnection({ profile: "prod", config: file }, {}).apiKey).toBe("vtt_live_prod");
    expect(resolveConnection({}, { VTT_CONFIG: file, VTT_PROFILE: "prod" }).apiKey).toBe("vtt_live_prod");
    expect(resolveConnection({ config: file }, {}).apiKey).toBe("vtt_live_local");
  });

  it("names what is missing", () => {
    const home = mkdtempSync(path.join(tmpdir(), "vtt-client-home-"));
    expect(() => resolveConnection({}, { HOME: home })).toThrow(/no API URL: set VTT_API_URL/);
    expect(() => resolveConnection({ url: "https://x.test" }, { HOME: home })).toThrow(/no API key/);
    expect(() => resolveConnection({ profile: "staging", config: file }, {})).toThrow(/no profile "staging"/);
    expect(() => resolveConnection({ config: path.join(dir, "absent.json") }, {})).toThrow(ConfigError);
    expect(() => resolveConnection({ url: "ftp://x", key: "k" }, { HOME: home })).toThrow(/must be http/);
  });

  it("finds the file under XDG_CONFIG_HOME or ~/.config", () => {
    expect(configPath({}, { XDG_CONFIG_HOME: "/x" })).toBe(path.join("/x", "vtt", "config.json"));
    expect(configPath({}, { HOME: "/home/a" })).toBe(path.join("/home/a", ".config", "vtt", "config.json"));
  });
});
