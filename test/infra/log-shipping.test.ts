/**
 * Checks of the log-shipping artefacts: the Fluent Bit pipeline for the pool's JSON logs (infra/fluent-bit) and the
 * Logpush jobs for the Worker's trace events (infra/logpush).
 */
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";

import { describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";

const ROOT = path.join(import.meta.dirname, "..", "..");
const read = (file: string): string => readFileSync(path.join(ROOT, file), "utf8");

describe("log shipping configuration", () => {
  type Section = { name: string; props: Map<string, string[]> };
  /** Fluent Bit's classic format: [SECTION] headers, then `Key value` lines (keys case-insensitive, repeatable). */
  function classicSections(text: string): Section[] {
    const sections: Section[] = [];
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (!line || line.startsWith("#")) continue;
      const header = /^\[([A-Z]+)\]$/.exec(line);
      if (header) {
        sections.push({ name: header[1]!, props: new Map() });
        continue;
      }
      const [key, ...rest] = line.split(/\s+/);
      const props = sections.at(-1)?.props;
      if (!props || !key) throw new Error(`line outside a section: ${line}`);
      props.set(key.toLowerCase(), [...(props.get(key.toLowerCase()) ?? []), rest.join(" ")]);
    }
    return sections;
  }
  const plugin = (sections: Section[], kind: string, name: string): Section[] =>
    sections.filter((s) => s.name === kind && s.props.get("name")?.[0]?.toLowerCase() === name);
  const conf = (): Section[] => classicSections(read("infra/fluent-bit/fluent-bit.conf"));

  it("Fluent Bit tails the pool's containers and turns the JSON line into fields", () => {
    const sections = conf();
    const [tail] = plugin(sections, "INPUT", "tail");
    expect(tail?.props.get("path")?.[0]).toContain("_vtt-pool_");
    expect(tail?.props.get("multiline.parser")?.[0]).toMatch(/\bcri\b/);
    expect(plugin(sections, "FILTER", "kubernetes")).toHaveLength(1);
    const [parser] = plugin(sections, "FILTER", "parser");
    expect(parser?.props.get("key_name")).toEqual(["log"]);
    const parsers = classicSections(read("infra/fluent-bit/parsers.conf"));
    const defined = parsers.find((p) => p.props.get("name")?.[0] === parser?.props.get("parser")?.[0]);
    expect(defined?.props.get("format")).toEqual(["json"]);
    expect(defined?.props.get("time_key")).toEqual(["time"]); // gpu-worker/src/log.ts writes `time`
  });

  it("Fluent Bit redacts text/prompt/authorization fields before the output", () => {
    const sections = conf();
    const order = sections.map((s) => `${s.name}:${s.props.get("name")?.[0]?.toLowerCase()}`);
    const [lua] = plugin(sections, "FILTER", "lua");
    expect(lua?.props.get("call")).toEqual(["redact"]);
    expect(existsSync(path.join(ROOT, "infra/fluent-bit", path.basename(lua!.props.get("script")![0]!)))).toBe(true);
    expect(order.indexOf("FILTER:lua")).toBeGreaterThan(order.indexOf("FILTER:parser"));
    const script = read("infra/fluent-bit/redact.lua");
    for (const word of ["text", "prompt", "authorization"]) expect(script).toMatch(new RegExp(`\\b${word} = true`));
  });

  it("Fluent Bit writes to OpenSearch over TLS with credentials from the environment the DaemonSet provides", () => {
    const text = read("infra/fluent-bit/fluent-bit.conf");
    const [out] = plugin(conf(), "OUTPUT", "opensearch");
    expect(out?.props.get("tls")).toEqual(["On"]);
    expect(out?.props.get("tls.verify")).toEqual(["On"]);
    expect(out?.props.get("http_passwd")?.[0]).toMatch(/^\$\{[A-Z_]+\}$/);
    const used = new Set([...text.replace(/^\s*#.*$/gm, "").matchAll(/\$\{([A-Z_]+)\}/g)].map((m) => m[1]!));
    const kustomization = parseYaml(read("infra/fluent-bit/kustomization.yaml")) as {
      configMapGenerator: { name: string; literals?: string[] }[];
    };
    const daemonset = parseYaml(read("infra/fluent-bit/daemonset.yaml")) as {
      spec: { template: { spec: { containers: { env?: { name: string }[] }[] } } };
    };
    const provided = new Set([
      ...kustomization.configMapGenerator.flatMap((g) => (g.literals ?? []).map((l) => l.split("=")[0]!)),
      ...daemonset.spec.template.spec.containers.flatMap((c) => (c.env ?? []).map((e) => e.name)),
    ]);
    expect([...used].filter((v) => !provided.has(v))).toEqual([]);
  });

  it.each(["infra/logpush/job-r2.json", "infra/logpush/job-datadog.json"])(
    "%s is a workers_trace_events job for our script",
    (file) => {
      const job = JSON.parse(read(file)) as {
        dataset: string;
        filter: string;
        destination_conf: string;
        output_options: { field_names: string[] };
      };
      expect(job.dataset).toBe("workers_trace_events");
      for (const field of ["Event", "EventTimestampMs", "Outcome", "ScriptName", "Logs", "Exceptions"])
        expect(job.output_options.field_names).toContain(field);
      const scriptName = /^name = "([^"]+)"/m.exec(read("wrangler.toml"))?.[1];
      expect(JSON.parse(job.filter)).toEqual({ where: { key: "ScriptName", operator: "eq", value: scriptName } });
      expect(job.destination_conf).not.toMatch(/(key-id|secret-access-key|DD-API-KEY)=[^<&]/); // placeholders only, never a credential
    },
  );
});
