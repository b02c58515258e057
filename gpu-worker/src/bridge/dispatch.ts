/**
 * The dispatch body of `POST /v1/jobs` (docs/pool-contract.md §1), validated with the contract's `DispatchSchema`
 * (`@vtt/pool-contract`), the same schema the edge builds its dispatches against.
 */
import { DispatchSchema, fieldErrors, type Dispatch, type FieldError } from "@vtt/pool-contract";

export { isValidJobId, type Dispatch, type FieldError } from "@vtt/pool-contract";

export type DispatchValidation = { ok: true; dispatch: Dispatch } | { ok: false; errors: FieldError[] };

/** Validates a parsed JSON body; unknown fields are dropped so the edge can add fields first. */
export function validateDispatch(body: unknown): DispatchValidation {
  const parsed = DispatchSchema.safeParse(body);
  return parsed.success ? { ok: true, dispatch: parsed.data } : { ok: false, errors: fieldErrors(parsed.error) };
}
