/** D1 binds at most 100 parameters per query: id lists go in slices that leave room for a few other parameters. */
export const MAX_IDS_PER_QUERY = 90;

export function inSlices<T>(items: readonly T[], size = MAX_IDS_PER_QUERY): T[][] {
  const slices: T[][] = [];
  for (let i = 0; i < items.length; i += size) slices.push(items.slice(i, i + size));
  return slices;
}
