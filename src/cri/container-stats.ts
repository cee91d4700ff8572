// RuntimeService/ContainerStats: one container's usage.
import type { CallContext } from './context.js';
import { required } from './pod-view.js';
import { toCriStats } from './stats-view.js';

export async function containerStats(ctx: CallContext, req: { container_id: string }): Promise<object> {
  const containers = await ctx.engine.containers();
  const c = await containers.get(required(req.container_id, 'container_id'));
  return { stats: await toCriStats(ctx.engine, containers, c) };
}
