/**
 * A service binding that runs in Node, not in workerd: the OpenAPI validator reads its meta-schemas from disk, which a
 * Worker cannot. vitest.config.ts binds it as `OPENAPI_VALIDATOR`; a test POSTs a document and gets
 * `{valid, errors}` back from @seriousme/openapi-schema-validator (JSON Schema of the OpenAPI 3.1 specification, and
 * every `$ref` resolved).
 */
import { Validator } from "@seriousme/openapi-schema-validator";

export async function validateOpenApiDocument(request: Request): Promise<Response> {
  const document = (await request.json()) as Record<string, unknown>;
  const validator = new Validator({ strict: false, allErrors: true });
  const result = await validator.validate(document);
  return Response.json({ valid: result.valid, version: validator.version, errors: result.errors ?? null });
}
