/**
 * Routes of the operator session, mounted at `/console/operator` behind sign-in; `/console` itself shows the
 * operator's landing (operatorHome). A tenant session gets 403 here.
 */
import type { Context } from "hono";
import { Hono } from "hono";

import { listTenants } from "../../storage/tenants.repo.ts";
import { OperatorPage } from "./operator-pages.tsx";
import type { ConsoleEnv } from "./session.ts";

const TENANTS_PAGE_SIZE = 100;

export const operatorConsole = new Hono<ConsoleEnv>();

operatorConsole.use("*", async (c, next) => {
  if (c.var.session.kind !== "operator") return c.text("This page belongs to the operator session.", 403);
  await next();
});

/** The operator's landing: `/console` and `/console/operator` for the operator session. */
export const operatorHome = async (c: Context<ConsoleEnv>) => {
  const tenants = await listTenants(c.var.db, { limit: TENANTS_PAGE_SIZE });
  return c.html(<OperatorPage csrfToken={c.var.session.csrfToken} tenants={tenants} />);
};

operatorConsole.get("/", operatorHome);
