// Reconciliation: brings a container's row up to date with what conmon and the process
// table say, for a container nobody may have watched. Four cases:
//  - an exit conmon recorded in its exit file (also while no berth process ran);
//  - a monitor that vanished without recording one (the container is released, code -1);
//  - a creation or restart whose creator died (its 'creating' row names the creator as a
//    processToken, so that a reused pid is not taken for it):
//    a new container is removed, a restarted one goes back to stopped;
//  - a release after an exit, or a removal, whose process died: it is finished.
// A look must work when the store cannot be written (a full disk): the exit is then
// reported from the exit file, and recorded by a later look.
import { isBerthError } from '../errors/index.js';
import { log } from '../log/index.js';
import { tokenAlive } from '../sys/index.js';
import { destroy, finishCleanup, recordExit, release } from './release.js';
import type { Parts } from './parts.js';
import type { Container } from './types.js';

/** The container as it really is now; undefined when it turned out to be gone. */
export async function reconcile(parts: Parts, c: Container): Promise<Container | undefined> {
  try {
    return await reconcileRow(parts, c);
  } catch (e) {
    if (!isBerthError(e, 'ResourceExhausted')) throw e;
    log.debug('left for a later look: the store cannot be written', { id: c.id });
    return c;
  }
}

async function reconcileRow(parts: Parts, c: Container): Promise<Container | undefined> {
  if (c.state === 'creating') {
    // Rows older than owners name the creator by pid alone.
    const creator = c.cleanupOwner ?? (c.pid === null ? null : String(c.pid));
    if (creator === null || tokenAlive(creator)) return c;
    if (c.startedAt === null) {
      log.info('removing a container whose creation was interrupted', { id: c.id });
      // It never was: the anonymous volumes made for it go too.
      await destroy(parts, c.id, false, true);
      return undefined;
    }
    log.info('a restart was interrupted: the container goes back to stopped', { id: c.id });
    await release(parts, c.id);
    await parts.records.backToStopped(c.id, true);
    return parts.records.byId(c.id);
  }
  if (c.state === 'removing' || (c.state === 'stopped' && !c.released)) return finishCleanup(parts, c);
  if (c.state !== 'running' && c.state !== 'created') return c;
  let code = await parts.runtime.exitCode(c.id);
  if (code === undefined) {
    if (c.conmonPid === null || tokenAlive(c.conmonToken ?? String(c.conmonPid))) return c;
    // The monitor is gone without recording an exit: re-check, it may have written the
    // file just before exiting.
    code = await parts.runtime.exitCode(c.id);
    if (code === undefined) {
      return recordExit(parts, c, -1, 'container monitor (conmon) died without recording an exit code');
    }
  }
  return recordExit(parts, c, code);
}

