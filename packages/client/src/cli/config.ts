/**
 * Where the CLI finds the API: `--url`/`--key`, else `VTT_API_URL`/`VTT_API_KEY`, else a profile of the config file
 * (`--config`, `$VTT_CONFIG`, or `$XDG_CONFIG_HOME/vtt/config.json`, by default `~/.config/vtt/config.json`):
 *
 *   { "default_profile": "local",
 *     "profiles": { "local": { "api_url": "http://127.0.0.1:8787", "api_key": "vtt_live_…" } } }
 *
 * The profile is `--profile`, else `$VTT_PROFILE`, else the file's `default_profile`, else `default`.
 */
import { readFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";

export interface ConnectionFlags {
  url?: string;
  key?: string;
  profile?: string;
  config?: string;
}

export interface Connection {
  baseUrl: string;
  apiKey: string;
}

interface ConfigFile {
  default_profile?: string;
  profiles?: Record<string, { api_url?: string; api_key?: string }>;
}

/** A configuration problem: the CLI exits with its usage code and this message. */
export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export function configPath(flags: ConnectionFlags, env: NodeJS.ProcessEnv): string {
  if (flags.config) return flags.config;
  if (env.VTT_CONFIG) return env.VTT_CONFIG;
  const base = env.XDG_CONFIG_HOME || path.join(env.HOME || homedir(), ".config");
  return path.join(base, "vtt", "config.json");
}

function readConfigFile(file: string, required: boolean): ConfigFile | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT" && !required) return null;
    throw new ConfigError(`cannot read the config file ${file}: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text) as ConfigFile;
  } catch {
    throw new ConfigError(`the config file ${file} is not valid JSON`);
  }
}

/** Resolves the connection; throws ConfigError naming what is missing. */
export function resolveConnection(flags: ConnectionFlags, env: NodeJS.ProcessEnv): Connection {
  const file = configPath(flags, env);
  // a file named on purpose must exist; the default one is optional
  const config = readConfigFile(file, Boolean(flags.config || env.VTT_CONFIG || flags.profile || env.VTT_PROFILE));
  // an empty variable counts as unset (`VTT_API_KEY= vtt list` falls back to the profile)
  const profileName = flags.profile || env.VTT_PROFILE || config?.default_profile || "default";
  const profile = config?.profiles?.[profileName];
  if (config && (flags.profile || env.VTT_PROFILE) && !profile) {
    throw new ConfigError(`no profile "${profileName}" in ${file}`);
  }
  const baseUrl = flags.url || env.VTT_API_URL || profile?.api_url;
  const apiKey = flags.key || env.VTT_API_KEY || profile?.api_key;
  if (!baseUrl) throw new ConfigError(`no API URL: set VTT_API_URL, pass --url, or add a profile to ${file}`);
  if (!apiKey) throw new ConfigError(`no API key: set VTT_API_KEY, pass --key, or add a profile to ${file}`);
  if (!/^https?:\/\//i.test(baseUrl)) throw new ConfigError(`the API URL must be http(s): ${baseUrl}`);
  return { baseUrl, apiKey };
}
