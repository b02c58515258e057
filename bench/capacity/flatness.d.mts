// Types of bench/capacity/flatness.mjs for the TypeScript test that imports it (test/infra/capacity-flatness.test.ts).

export declare const FLAT_GOAL: number;

export declare function quantile(list: number[], q: number): number;

export interface SeededTenant {
  jobs: number;
  statuses: Partial<Record<string, number>>;
  hits: Record<string, number>;
}

export interface SeededSystem {
  label: string;
  tenants: SeededTenant[];
}

export declare function sameDataProblems(one: SeededSystem, four: SeededSystem): string[];

export interface QuantilePair {
  one: number;
  four: number;
  ratio: number;
}

export interface FlatRow {
  name: string;
  samples: number;
  p50: QuantilePair;
  p90: QuantilePair;
}

export declare function flatRows(names: string[], one: number[][], four: number[][]): FlatRow[];

export interface FlatVerdict {
  goal: number;
  worstP50: { ratio: number; name: string };
  worstP90: { ratio: number; name: string };
  met: boolean;
}

export declare function flatVerdict(rows: FlatRow[], goal?: number): FlatVerdict;

export declare function answerProblems(
  labels: [string, string],
  one: Record<string, number>,
  four: Record<string, number>,
): string[];
