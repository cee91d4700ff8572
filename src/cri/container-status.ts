// RuntimeService/ContainerStatus: state, times in ns, exit code and reason, image, mounts,
// log path, labels and annotations; with verbose, the container's record as JSON under "info".
import { nanos, type CallContext } from './context.js';
import { containerMetadata, containerState, criResourcesOf, exitReason, imageRefs } from './container-view.js';
import { required, userAnnotations } from './pod-view.js';

export async function containerStatus(ctx: CallContext, req: { container_id: string; verbose: boolean }): Promise<object> {
  const [containers, images] = await Promise.all([ctx.engine.containers(), ctx.engine.images()]);
  const c = await containers.get(required(req.container_id, 'container_id'));
  const m = containerMetadata(c);
  const info: Record<string, string> = {};
  if (req.verbose) {
    const { cleanupOwner: _, ...record } = c;
    info.info = JSON.stringify({ ...record, pid: c.state === 'running' ? c.pid : 0, logPath: containers.paths(c).logPath });
  }
  return {
    status: {
      id: c.id,
      metadata: { name: m.name, attempt: m.attempt },
      state: containerState(c),
      created_at: nanos(c.createdAt),
      started_at: nanos(c.startedAt),
      finished_at: nanos(c.state === 'stopped' ? c.finishedAt : null),
      exit_code: c.state === 'stopped' ? c.exitCode ?? -1 : 0,
      image: m.image,
      ...imageRefs(c, images),
      reason: exitReason(c),
      message: c.error ?? '',
      labels: c.config.labels ?? {},
      annotations: userAnnotations(c.config.annotations),
      mounts: m.mounts,
      log_path: c.config.logPath ?? '',
      resources: criResourcesOf(c.config.resources),
    },
    info,
  };
}
