// RuntimeService/ListPodSandbox: every pod of the CRI's namespace, filtered by id (or id
// prefix), state and labels.
import type { CallContext } from './context.js';
import { matchesLabels, toCriPod } from './pod-view.js';
import type { PodSandbox, PodSandboxFilter } from './types.js';

export async function listPodSandbox(ctx: CallContext, req: { filter: PodSandboxFilter | null }): Promise<{ items: PodSandbox[] }> {
  const f = req.filter;
  const items = (await (await ctx.engine.pods()).list())
    .filter((p) => p.state === 'ready' || p.state === 'notready')
    .map(toCriPod)
    .filter((p) => (!f?.id || p.id.startsWith(f.id)) && (!f?.state || p.state === f.state.state) && matchesLabels(p.labels, f?.label_selector));
  return { items };
}
