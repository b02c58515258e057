/**
 * Routes of a tenant session, mounted at `/console/transcripts` behind sign-in; `/console` itself shows a tenant the
 * same list (tenantHome). An operator session gets 403 here: it has no tenant.
 */
import type { Context } from "hono";
import { Hono } from "hono";

import { listTenantJobs } from "../../storage/jobs.repo.ts";
import { getTenant } from "../../storage/tenants.repo.ts";
import type { ConsoleEnv } from "./session.ts";
import { TranscriptsPage } from "./tenant-pages.tsx";

/** Rows on the transcripts page: the newest ones (paging comes with the list filters). */
const TRANSCRIPTS_PAGE_SIZE = 50;

export const tenantConsole = new Hono<ConsoleEnv>();

tenantConsole.use("*", async (c, next) => {
  if (c.var.session.kind !== "tenant") return c.text("This page belongs to a tenant session.", 403);
  await next();
});

/** The transcripts list: `/console` and `/console/transcripts` for a tenant session. */
export const tenantHome = async (c: Context<ConsoleEnv>) => {
  const session = c.var.session;
  const tenantId = session.tenantId!;
  const [tenant, jobs] = await Promise.all([
    getTenant(c.var.db, tenantId),
    listTenantJobs(c.var.db, tenantId, { limit: TRANSCRIPTS_PAGE_SIZE }),
  ]);
  return c.html(<TranscriptsPage tenantName={tenant?.name ?? tenantId} csrfToken={session.csrfToken} jobs={jobs} />);
};

tenantConsole.get("/", tenantHome);
