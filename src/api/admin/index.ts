/** `/v1/admin/*`: the operator plane. Every route here answers only the operator key (`403 operator_required`). */
import { OpenAPIHono } from "@hono/zod-openapi";

import type { AppEnv } from "../../app.context.ts";
import { requireOperator } from "../../auth/middleware.ts";
import { validationHook } from "../validation.ts";
import { breakers } from "./breakers.ts";
import { deadLetterRoutes } from "./dead-letters.ts";
import { encryption } from "./encryption.ts";
import { keyRoutes } from "./keys.ts";
import { qualityRoutes } from "./quality.ts";
import { searchAdmin } from "./search.ts";
import { tenantMoveRoutes } from "./tenant-move.ts";
import { tenantRoutes } from "./tenants.ts";

export const admin = new OpenAPIHono<AppEnv>({ defaultHook: validationHook });
admin.use("/v1/admin/*", requireOperator);
admin.route("/", tenantRoutes);
admin.route("/", tenantMoveRoutes);
admin.route("/", keyRoutes);
admin.route("/", breakers);
admin.route("/", deadLetterRoutes);
admin.route("/", encryption);
admin.route("/", qualityRoutes);
admin.route("/", searchAdmin);
