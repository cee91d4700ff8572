// `berth system service [--time SECONDS] [URI]`: the Docker Engine API in the foreground,
// as `podman system service` runs it.
import type { Command } from './command.js';
import { invalidArgument } from '../errors/index.js';
import { makeDirsSync } from '../sys/index.js';
import { rmSync } from 'node:fs';
import { dirname } from 'node:path';

const DEFAULT_URI = 'unix:///run/berth/docker.sock';

/** unix:///path → /path (the only transport served). */
function socketPathOf(uri: string): string {
  const m = /^unix:\/\/(\/.+)$/.exec(uri);
  if (!m) throw invalidArgument(`unsupported URI "${uri}": use unix:///PATH`);
  return m[1];
}

export const serviceCommand: Command = {
  name: 'service',
  usage: 'system service [OPTIONS] [URI]',
  summary: 'Serve the Docker Engine API on a unix socket (default unix:///run/berth/docker.sock)',
  flags: [{ name: 'time', short: 't', type: 'int', value: 'SECONDS', default: 5, desc: 'Seconds without a client before the service ends (0: never)' }],
  maxArgs: 1,
  async run(ctx, f, [uri]) {
    const seconds = f.time as number;
    if (!(seconds >= 0)) throw invalidArgument(`invalid --time ${seconds}: seconds, 0 for no timeout`);
    const socketPath = socketPathOf(uri ?? DEFAULT_URI);
    makeDirsSync(dirname(socketPath), 0o755);
    rmSync(socketPath, { force: true });
    const { serveDockerApi } = await import('../dockerapi/index.js');
    const ac = new AbortController();
    const stop = () => ac.abort();
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
    try {
      await (await serveDockerApi(ctx, { socketPath, idleSeconds: seconds, signal: ac.signal })).closed;
    } finally {
      process.off('SIGTERM', stop);
      process.off('SIGINT', stop);
    }
  },
};
