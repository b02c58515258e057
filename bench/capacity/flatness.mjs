// The pure part of bench/capacity's flatness check (issue 15 §3): what "the same data" means, the per-request
// quantiles and ratios, and the verdict. No I/O, so test/infra/capacity-flatness.test.ts checks it directly.

/** Issue 15 §3: status, list and search latency at 4 shards stay within 1.2 × their latency at 1 shard. */
export const FLAT_GOAL = 1.2;

/** The `q`-th quantile of `list` (nearest rank, lower): `quantile(xs, 0.5)` is the median; NaN for an empty list. */
export function quantile(list, q) {
  if (!list.length) return NaN;
  const sorted = [...list].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

/**
 * Why two seeded systems do NOT hold the same data; an empty list means they do. Each system is
 * `{ label, tenants: [{ jobs, statuses: { completed, failed, … }, hits: { [query]: count } }] }`, tenant `i` of one
 * system being the counterpart of tenant `i` of the other (same name, same uploads). The same data means: the same
 * number of tenants, every job of both systems `completed` (a failed or unfinished job has no transcript, so its
 * absence from a search would differ by chance), the same number of jobs per tenant, and the same count of hits per
 * tenant for every listing and search the bench samples.
 */
export function sameDataProblems(one, four) {
  const problems = [];
  if (one.tenants.length !== four.tenants.length) {
    problems.push(`${one.label} has ${one.tenants.length} tenants, ${four.label} ${four.tenants.length}`);
  }
  for (const system of [one, four]) {
    const jobs = system.tenants.reduce((sum, t) => sum + t.jobs, 0);
    const completed = system.tenants.reduce((sum, t) => sum + (t.statuses.completed ?? 0), 0);
    if (completed !== jobs) {
      const others = system.tenants
        .flatMap((t) => Object.entries(t.statuses))
        .filter(([status]) => status !== "completed")
        .reduce((acc, [status, n]) => ({ ...acc, [status]: (acc[status] ?? 0) + n }), {});
      const detail = Object.entries(others)
        .filter(([, n]) => n > 0)
        .map(([status, n]) => `${n} ${status}`)
        .join(", ");
      problems.push(`${system.label}: ${completed} of ${jobs} jobs completed${detail ? ` (${detail})` : ""}`);
    }
  }
  const pairs = Math.min(one.tenants.length, four.tenants.length);
  for (let i = 0; i < pairs; i++) {
    const a = one.tenants[i];
    const b = four.tenants[i];
    if (a.jobs !== b.jobs) problems.push(`tenant ${i}: ${a.jobs} jobs in ${one.label}, ${b.jobs} in ${four.label}`);
    for (const query of new Set([...Object.keys(a.hits), ...Object.keys(b.hits)])) {
      if (a.hits[query] !== b.hits[query]) {
        problems.push(
          `tenant ${i}, ${query}: ${a.hits[query] ?? "not counted"} in ${one.label}, ` +
            `${b.hits[query] ?? "not counted"} in ${four.label}`,
        );
      }
    }
  }
  return problems;
}

/**
 * One row per request kind from the interleaved samples (`one[q]`, `four[q]`: milliseconds of request kind `q`):
 * p50 and p90 in each system and their 4 / 1 ratios.
 */
export function flatRows(names, one, four) {
  return names.map((name, q) => {
    const row = { name, samples: Math.min(one[q].length, four[q].length) };
    for (const [key, p] of [
      ["p50", 0.5],
      ["p90", 0.9],
    ]) {
      row[key] = { one: quantile(one[q], p), four: quantile(four[q], p) };
      row[key].ratio = row[key].four / row[key].one;
    }
    return row;
  });
}

/**
 * The verdict on the rows: the goal applies to the median (p50) ratio of every request kind; the p90 ratio is
 * reported beside it (on a shared machine a tail quantile of a few dozen samples swings with other work).
 */
export function flatVerdict(rows, goal = FLAT_GOAL) {
  const worst = (key) =>
    rows.reduce((max, r) => (r[key].ratio > max.ratio ? { ratio: r[key].ratio, name: r.name } : max), {
      ratio: -Infinity,
      name: "",
    });
  const worstP50 = worst("p50");
  const worstP90 = worst("p90");
  return { goal, worstP50, worstP90, met: rows.length > 0 && rows.every((r) => r.p50.ratio <= goal) };
}

/**
 * Differences between two systems' answers to the same sampled requests: `one` and `four` map a request (e.g.
 * `"list, tenant 3"`) to the number of items its answer held; each key of either map must hold the same number in
 * the other.
 */
export function answerProblems(labels, one, four) {
  const problems = [];
  for (const key of new Set([...Object.keys(one), ...Object.keys(four)])) {
    if (one[key] !== four[key]) {
      problems.push(
        `${key}: ${one[key] ?? "not asked"} items in ${labels[0]}, ${four[key] ?? "not asked"} in ${labels[1]}`,
      );
    }
  }
  return problems;
}
