// RuntimeService/ListPodSandboxStats: usage of the ready pods, filtered by id (or prefix)
// and labels.
import { isBerthError } from '../errors/index.js';
import type { CallContext } from './context.js';
import { matchesLabels } from './pod-view.js';
import { toCriPodStats } from './stats-view.js';

export async function listPodSandboxStats(ctx: CallContext, req: { filter: { id: string; label_selector: Record<string, string> } | null }): Promise<object> {
  const f = req.filter;
  const pods = await ctx.engine.pods();
  const ready = (await pods.list()).filter((p) => p.state === 'ready' && (!f?.id || p.id.startsWith(f.id)) && matchesLabels(p.spec.labels, f?.label_selector));
  const stats = await Promise.all(
    ready.map(async (p) => {
      try {
        return toCriPodStats(ctx.engine, p, await pods.stats(p, { writableLayer: true }));
      } catch (e) {
        // One removed meanwhile is left out, not an error for the whole list.
        if (isBerthError(e, 'NotFound')) return undefined;
        throw e;
      }
    }),
  );
  return { stats: stats.filter((s) => s !== undefined) };
}
