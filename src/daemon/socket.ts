// A socket's file (the CRI's, the Docker API's): a stale one (a berthd that died) is
// removed at start, a live one (another server answers on it) is refused, anything that
// is not a socket is left alone.
import { lstatSync, mkdirSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname } from 'node:path';
import { alreadyExists, failedPrecondition, fromSystemError } from '../errors/index.js';

/** flag: the setting that names the path; server: who else may be serving on it. */
export async function claimSocketPath(path: string, o: { flag: string; server: string } = { flag: '--socket', server: 'another berthd' }): Promise<void> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fromSystemError(e, path);
  }
  if (!st.isSocket()) throw failedPrecondition(`${path} exists and is not a socket: remove it or choose another ${o.flag}`);
  if (await answers(path)) throw alreadyExists(`${o.server} is serving on ${path}`);
  rmSync(path, { force: true });
}

/** Whether something accepts connections on the socket (ECONNREFUSED: nobody listens). */
function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    const timer = setTimeout(() => {
      s.destroy();
      resolve(true); // accepted but silent: someone holds it
    }, 1000);
    s.once('connect', () => {
      clearTimeout(timer);
      s.destroy();
      resolve(true);
    });
    s.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
  });
}
