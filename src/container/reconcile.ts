// Reconciliation: brings a container's row up to date with what conmon and the process
// table say, for a container nobody may have watched. Four cases:
//  - an exit conmon recorded in its exit file (also while no berth process ran);
//  - a monitor that vanished without recording one (the container is released, code -1);
//  - a creation or restart whose creator died (its 'creating' row names the creator's pid
//    and start time, so a reused pid is not taken for it):
//    a new container is removed, a restarted one goes back to stopped;
//  - a removal whose process died ('removing' names it the same way): it is finished.
import { log } from '../log/index.js';
import { processRunning } from '../sys/index.js';
import { destroy, recordExit, release } from './release.js';
import type { Parts } from './parts.js';
import type { Container } from './types.js';

/** The container as it really is now; undefined when it turned out to be gone. */
export async function reconcile(parts: Parts, c: Container): Promise<Container | undefined> {
  const owner = c.pid === null ? undefined : { pid: c.pid, startTime: c.ownerStart ?? undefined };
  if (c.state === 'removing') {
    // A row older than owners (pid null) has nobody removing it either.
    if (owner && processRunning(owner)) return c;
    log.info('finishing the removal of a container whose remover died', { id: c.id });
    await destroy(parts, c.id);
    return undefined;
  }
  if (c.state === 'creating') {
    if (owner === undefined || processRunning(owner)) return c;
    if (c.startedAt === null) {
      log.info('removing a container whose creation was interrupted', { id: c.id });
      await destroy(parts, c.id);
      return undefined;
    }
    log.info('a restart was interrupted: the container goes back to stopped', { id: c.id });
    await release(parts, c.id);
    await parts.records.backToStopped(c.id, true);
    return parts.records.byId(c.id);
  }
  if (c.state !== 'running' && c.state !== 'created') return c;
  let code = await parts.runtime.exitCode(c.id);
  if (code === undefined) {
    if (c.conmonPid === null || processRunning({ pid: c.conmonPid, startTime: c.conmonStart ?? undefined })) return c;
    // The monitor is gone without recording an exit: re-check, it may have written the
    // file just before exiting.
    code = await parts.runtime.exitCode(c.id);
    if (code === undefined) {
      await recordExit(parts, c, -1, 'container monitor (conmon) died without recording an exit code');
      return parts.records.byId(c.id);
    }
  }
  await recordExit(parts, c, code);
  return parts.records.byId(c.id);
}
