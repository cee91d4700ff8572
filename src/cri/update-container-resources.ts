// RuntimeService/UpdateContainerResources: new cgroup limits through the runtime's update.
import type { CallContext } from './context.js';
import { resourcesOf } from './container-view.js';
import { required } from './pod-view.js';
import type { LinuxContainerResources } from './types.js';

export async function updateContainerResources(ctx: CallContext, req: { container_id: string; linux: LinuxContainerResources | null }): Promise<Record<string, never>> {
  const id = required(req.container_id, 'container_id');
  const containers = await ctx.engine.containers();
  if (!req.linux) {
    await containers.get(id);
    return {};
  }
  // oom_score_adj is the process', not the cgroup's: runc update cannot change it.
  const { oomScoreAdj: _, ...limits } = resourcesOf(req.linux);
  await containers.updateResources(id, limits);
  return {};
}
