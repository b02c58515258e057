/** Which providers a job may be sent to, in order (pure). */

/**
 * The job's provider first, then the providers after it in `FAILOVER_CHAIN` that are enabled. A provider that is not
 * in the chain never fails over.
 */
export function providerCandidates(jobProvider: string, failoverChain: string[], enabled: string[]): string[] {
  const position = failoverChain.indexOf(jobProvider);
  if (position === -1) return [jobProvider];
  return [jobProvider, ...failoverChain.slice(position + 1).filter((p) => p !== jobProvider && enabled.includes(p))];
}

export function parseList(value: string | undefined): string[] {
  return (value ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}
