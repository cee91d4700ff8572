// RuntimeService/ListContainerStats: usage of the running containers, filtered by id (or
// prefix), pod and labels.
import { isBerthError } from '../errors/index.js';
import type { CallContext } from './context.js';
import { fullId, matchesLabels } from './pod-view.js';
import { toCriStats } from './stats-view.js';

export async function listContainerStats(ctx: CallContext, req: { filter: { id: string; pod_sandbox_id: string; label_selector: Record<string, string> } | null }): Promise<object> {
  const f = req.filter;
  const containers = await ctx.engine.containers();
  const running = (await containers.list({ podId: fullId(f?.pod_sandbox_id) })).filter(
    (c) => (!f?.id || c.id.startsWith(f.id)) && (!f?.pod_sandbox_id || (c.podId ?? '').startsWith(f.pod_sandbox_id)) && matchesLabels(c.config.labels, f?.label_selector),
  );
  const stats = await Promise.all(
    running.map((c) =>
      // One that exits meanwhile is left out, not an error for the whole list.
      toCriStats(ctx.engine, containers, c).catch((e) => (isBerthError(e, 'FailedPrecondition') || isBerthError(e, 'NotFound') ? undefined : Promise.reject(e))),
    ),
  );
  return { stats: stats.filter((s) => s !== undefined) };
}
