/**
 * The dispatch body of `POST /v1/jobs` (docs/pool-contract.md §1), validated with the contract's `DispatchSchema`
 * (`@vtt/pool-contract`), the same schema the edge builds its dispatches against.
 */
import { type Dispatch, DispatchSchema, type FieldError, fieldErrors } from "@vtt/pool-contract";

export { type Dispatch, type FieldError, isValidJobId } from "@vtt/pool-contract";

export type DispatchValidation = { ok: true; dispatch: Dispatch } | { ok: false; errors: FieldError[] };

/** Validates a parsed JSON body; unknown fields are dropped so the edge can add fields first. */
export function validateDispatch(body: unknown): DispatchValidation {
  const parsed = DispatchSchema.safeParse(body);
  return parsed.success ? { ok: true, dispatch: parsed.data } : { ok: false, errors: fieldErrors(parsed.error) };
}
