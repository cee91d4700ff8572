// RuntimeService/ListContainers: the CRI namespace's containers, filtered by id (or id
// prefix), state, pod (id or prefix) and labels.
import type { CallContext } from './context.js';
import { containerState, imageRefsOnce, toCriContainer } from './container-view.js';
import { fullId, matchesLabels } from './pod-view.js';
import type { ContainerFilter } from './types.js';

export async function listContainers(ctx: CallContext, req: { filter: ContainerFilter | null }): Promise<{ containers: object[] }> {
  const f = req.filter;
  const [containers, images] = await Promise.all([ctx.engine.containers(), ctx.engine.images()]);
  const found = (await containers.list({ all: true, podId: fullId(f?.pod_sandbox_id) })).filter(
    (c) =>
      c.state !== 'removing' &&
      (!f?.id || c.id.startsWith(f.id)) &&
      (!f?.state || containerState(c) === f.state.state) &&
      (!f?.pod_sandbox_id || (c.podId ?? '').startsWith(f.pod_sandbox_id)) &&
      matchesLabels(c.config.labels, f?.label_selector),
  );
  const refs = imageRefsOnce(images);
  return { containers: found.map((c) => toCriContainer(c, refs)) };
}
