// RuntimeService/GetContainerEvents: the event log's container events of the CRI namespace
// from now on (created, started, stopped, deleted), each with the container's status while
// it exists and its pod's, for the kubelet's evented PLEG. Ends when the client goes away.
import { isBerthError } from '../errors/index.js';
import { log } from '../log/index.js';
import { nanos, type CallContext } from './context.js';
import { containerStatus } from './container-status.js';
import { podSandboxStatus } from './pod-sandbox-status.js';

const EVENT_TYPES: Record<string, string> = {
  create: 'CONTAINER_CREATED_EVENT',
  start: 'CONTAINER_STARTED_EVENT',
  die: 'CONTAINER_STOPPED_EVENT',
  destroy: 'CONTAINER_DELETED_EVENT',
};

export async function getContainerEvents(ctx: CallContext, _req: unknown, send: (msg: object) => void, opened: () => void): Promise<void> {
  const events = await ctx.engine.events();
  const from = events.lastSeq();
  opened();
  for await (const e of events.follow({ afterSeq: from, namespace: ctx.engine.namespace }, ctx.signal)) {
    const type = e.type === 'container' ? EVENT_TYPES[e.action] : undefined;
    if (!type) continue;
    // A container or pod going away as the event is sent has no status to give (not found,
    // or half removed): the event goes out without it instead of ending the watch.
    const status = (p: Promise<{ status?: object }>) =>
      p.then(
        (r) => r.status ?? null,
        (err: unknown) => {
          if (!isBerthError(err, 'NotFound')) log.debug('no status for an event', { id: e.id, error: (err as Error).message });
          return null;
        },
      );
    const [container, pod] = await Promise.all([
      e.action === 'destroy' ? null : status(containerStatus(ctx, { container_id: e.id, verbose: false }) as Promise<{ status?: object }>),
      e.attributes.pod ? status(podSandboxStatus(ctx, { pod_sandbox_id: e.attributes.pod, verbose: false }) as Promise<{ status?: object }>) : null,
    ]);
    send({ container_id: e.id, container_event_type: type, created_at: nanos(e.time), pod_sandbox_status: pod, containers_statuses: container ? [container] : [] });
  }
}
