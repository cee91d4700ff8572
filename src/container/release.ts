// The end of a container's run and of the container: record an exit (for the incarnation
// that reported it), release what it held at runtime, destroy it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { isBerthError } from '../errors/index.js';
import { log } from '../log/index.js';
import { parkPoint, processToken, removePaths, tokenAlive } from '../sys/index.js';
import { networkPlan } from './spec.js';
import type { Parts } from './parts.js';
import { removeAnonymousVolumes } from './mounts.js';
import { unmountShareableShm } from './shm.js';
import { stopHealthTimer } from './health.js';
import type { Container } from './types.js';

/**
 * Records an exit and releases the runtime resources; returns the container as it is now
 * (undefined once removed). The exit belongs to the incarnation whose monitor reported it
 * (monitorPid): a restart in between has a new monitor, and an exit seen late must not stop
 * the new process. Idempotent: conmon's exit command, a waiting `run` and any state query
 * may all get here for the same exit. The row says 'stopped, not released' until the
 * release is done, so a process that dies in between leaves work the next look finishes.
 * When the store cannot be written (a full disk), the exit is reported from the exit file
 * and recorded by a later look.
 */
export async function recordExit(parts: Parts, c: Container, code: number, error?: string, monitorPid: number | null = c.conmonPid): Promise<Container | undefined> {
  const at = (await parts.runtime.exitTime(c.id)) ?? Date.now();
  const oomKilled = parts.runtime.oomKilled(c.id);
  let changed: boolean;
  try {
    changed = await parts.records.recordExit(c.id, { code, oomKilled, error, monitorPid, at, owner: processToken() });
  } catch (e) {
    if (!isBerthError(e, 'ResourceExhausted')) throw e;
    log.warn('the exit is not recorded yet: the store cannot be written', { id: c.id, error: (e as Error).message });
    return { ...c, state: 'stopped', exitCode: code, finishedAt: at, oomKilled, error: error ?? null, released: false };
  }
  if (changed) {
    await parkPoint('exit-recorded');
    await finishAfterExit(parts, c);
  }
  return parts.records.byId(c.id);
}

/** Release (or removal, for remove-on-exit) after an exit is recorded, by the row's cleanup owner. */
async function finishAfterExit(parts: Parts, c: Container): Promise<void> {
  if (c.config.removeOnExit) return destroy(parts, c.id);
  await retriedOnFailure(parts, c.id, async () => {
    await release(parts, c.id);
    await parts.records.setReleased(c.id);
  });
}

/** Cleanup work that, when it fails, is left for the next look (of any process) to retry. */
async function retriedOnFailure(parts: Parts, id: string, work: () => Promise<void>): Promise<void> {
  try {
    await work();
  } catch (e) {
    await parts.records.dropCleanupOwner(id).catch(() => undefined);
    throw e;
  }
}

/**
 * Finishes a release or removal whose process died ('stopped' but not released, or
 * 'removing', with a cleanup owner that no longer runs). Returns the container as it is
 * now (undefined once removed); one whose cleanup runs elsewhere is returned as it is.
 */
export async function finishCleanup(parts: Parts, c: Container): Promise<Container | undefined> {
  if (c.cleanupOwner !== null && tokenAlive(c.cleanupOwner)) return c;
  if (!(await parts.records.claimCleanup(c, processToken()))) return parts.records.byId(c.id);
  if (c.state === 'removing') {
    log.info('finishing the removal of a container whose remover died', { id: c.id });
    await destroy(parts, c.id);
    return undefined;
  }
  log.info('finishing the release of an exited container whose releaser died', { id: c.id });
  await finishAfterExit(parts, c);
  return parts.records.byId(c.id);
}

/**
 * The process is gone: the runtime's state, the rootfs and the network come down side by side.
 * afterFailure: the caller reports an error of its own; failures here are its detail (logged at debug).
 */
export async function release(parts: Parts, id: string, afterFailure = false): Promise<void> {
  stopHealthTimer(parts, id);
  const deleted = parts.runtime
    .delete(id, { force: true })
    .catch((e) => (isBerthError(e, 'Unavailable') ? log.debug : log.warn)('runtime delete failed', { id, error: String(e) }));
  // Settled with its outcome at once: an unmount failure below must not leave it unhandled.
  const detached = hasNetwork(parts, id)
    ? parts
        .network()
        .then((net) => net.teardown(id))
        .then(
          () => undefined,
          (e: Error) => e,
        )
    : undefined;
  try {
    unmountShareableShm(join(parts.containersDir, id));
    (await parts.snapshots()).unmountRootfs(join(parts.containersDir, id));
  } finally {
    await deleted;
    const failed = await detached;
    if (detached && !failed && parts.records.exists(id)) await parts.records.setNetwork(id, null);
    // The container has exited all the same; its attachment records stay, and `rm`, the
    // next start or a sweep finishes the teardown.
    if (failed) (afterFailure ? log.debug : log.warn)('network teardown failed', { id, error: failed.message });
  }
}

/** Whether a container may hold network attachments (checked without loading CNI code). */
function hasNetwork(parts: Parts, id: string): boolean {
  const c = parts.records.byId(id);
  if (!c) return existsSync(join(parts.netnsDir, id));
  return c.network !== null || networkPlan(c.config).kind === 'networks';
}

/**
 * Deletes every trace of a container: runtime state, mounts, files, then its row. With the
 * store's disk full, the intent cannot be recorded: the files go first (freeing the space)
 * and the row after.
 */
export async function destroy(parts: Parts, id: string, afterFailure = false, removeVolumes = false): Promise<void> {
  const spec = parts.records.byId(id)?.config;
  try {
    await parts.records.markRemoving(id, processToken());
  } catch (e) {
    if (!isBerthError(e, 'ResourceExhausted')) throw e;
    log.debug('removing before recording the removal: the store cannot be written', { id });
  }
  await parkPoint('removing');
  await retriedOnFailure(parts, id, async () => {
    await release(parts, id, afterFailure);
    // A caller-given log path outside the container dir stays: its caller (a kubelet) owns it.
    // One threadpool step for the whole dir (fs.promises.rm makes a round trip per call).
    await Promise.all([removePaths([join(parts.containersDir, id)]), parts.runtime.forget(id)]);
    await parts.records.delete(id);
  });
  // After the row: a crash in between leaves a dangling volume for `volume prune`, never a
  // container without its volume.
  if (spec && (removeVolumes || afterFailure || spec.removeOnExit)) await removeAnonymousVolumes(parts, spec);
}
