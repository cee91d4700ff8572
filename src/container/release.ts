// The end of a container's run and of the container: record an exit (for the incarnation
// that reported it), release what it held at runtime, destroy it.
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { isBerthError } from '../errors/index.js';
import { log } from '../log/index.js';
import { thisProcess } from '../sys/index.js';
import { networkPlan } from './spec.js';
import type { Parts } from './parts.js';
import type { Container } from './types.js';

/**
 * Records an exit and releases the runtime resources. The exit belongs to the incarnation
 * whose monitor reported it (monitorPid): a restart in between has a new monitor, and an
 * exit seen late must not stop the new process. Idempotent: conmon's exit command, a
 * waiting `run` and any state query may all get here for the same exit.
 */
export async function recordExit(parts: Parts, c: Container, code: number, error?: string, monitorPid: number | null = c.conmonPid): Promise<void> {
  const changed = await parts.records.recordExit(c.id, { code, oomKilled: parts.runtime.oomKilled(c.id), error, monitorPid, at: Date.now() });
  if (!changed) return;
  if (c.config.removeOnExit) await destroy(parts, c.id);
  else await release(parts, c.id);
}

/**
 * The process is gone: the runtime's state, the rootfs and the network come down side by side.
 * afterFailure: the caller reports an error of its own; failures here are its detail (logged at debug).
 */
export async function release(parts: Parts, id: string, afterFailure = false): Promise<void> {
  const deleted = parts.runtime
    .delete(id, { force: true })
    .catch((e) => (isBerthError(e, 'Unavailable') ? log.debug : log.warn)('runtime delete failed', { id, error: String(e) }));
  const detached = hasNetwork(parts, id) ? parts.network().then((net) => net.teardown(id)) : undefined;
  (await parts.snapshots()).unmountRootfs(join(parts.containersDir, id));
  await deleted;
  if (detached) {
    try {
      await detached;
      if (parts.records.exists(id)) await parts.records.setNetwork(id, null);
    } catch (e) {
      // The container has exited all the same; its attachment records stay, and `rm`, the
      // next start or a sweep finishes the teardown.
      (afterFailure ? log.debug : log.warn)('network teardown failed', { id, error: (e as Error).message });
    }
  }
}

/** Whether a container may hold network attachments (checked without loading CNI code). */
function hasNetwork(parts: Parts, id: string): boolean {
  const c = parts.records.byId(id);
  if (!c) return existsSync(join(parts.netnsDir, id));
  return c.network !== null || networkPlan(c.config).kind === 'networks';
}

/** Whether a release that never finished (its process died) left something behind. */
export function releaseUnfinished(parts: Parts, id: string): boolean {
  return existsSync(parts.runtime.stateDir(id)) || existsSync(join(parts.netnsDir, id));
}

/** Deletes every trace of a container: runtime state, mounts, files, then its row. */
export async function destroy(parts: Parts, id: string, afterFailure = false): Promise<void> {
  await parts.records.markRemoving(id, thisProcess());
  await release(parts, id, afterFailure);
  // A caller-given log path outside the container dir stays: its caller (a kubelet) owns it.
  await Promise.all([rm(join(parts.containersDir, id), { recursive: true, force: true }), parts.runtime.forget(id)]);
  await parts.records.delete(id);
}
