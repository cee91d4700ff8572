// The container process' command line and environment, by docker's (and Kubernetes')
// rules. The one place both are decided: the spec builder and exec use these.
import { invalidArgument } from '../errors/index.js';

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * ENTRYPOINT + CMD. A given entrypoint replaces the image's and drops the image's CMD;
 * [] and [''] mean "no entrypoint". A given command replaces CMD; [] keeps the image's.
 */
export function processArgs(
  image: { Entrypoint?: string[] | null; Cmd?: string[] | null },
  o: { entrypoint?: string[]; command?: string[] },
): string[] {
  let entrypoint = image.Entrypoint ?? [];
  let cmd = image.Cmd ?? [];
  if (o.entrypoint !== undefined) {
    entrypoint = o.entrypoint.length === 1 && o.entrypoint[0] === '' ? [] : o.entrypoint;
    cmd = [];
  }
  if (o.command && o.command.length > 0) cmd = o.command;
  return [...entrypoint, ...cmd];
}

/** Later layers win, by variable name; every entry must be KEY=VALUE. */
export function mergeEnv(...layers: { env: string[]; from: string }[]): string[] {
  const env = new Map<string, string>();
  for (const { env: entries, from } of layers) {
    for (const entry of entries) {
      const eq = entry.indexOf('=');
      if (eq <= 0) throw invalidArgument(`${from} variable "${entry}" is not KEY=VALUE`);
      env.set(entry.slice(0, eq), entry.slice(eq + 1));
    }
  }
  return [...env].map(([k, v]) => `${k}=${v}`);
}

/**
 * A container's environment: PATH, HOSTNAME (when it has one) and TERM (with a TTY) as
 * defaults, then the image's, then the caller's; HOME from passwd unless given.
 */
export function processEnv(imageEnv: string[], userEnv: string[], o: { hostname?: string; tty: boolean; home: string }): string[] {
  const defaults = [`PATH=${DEFAULT_PATH}`, ...(o.hostname ? [`HOSTNAME=${o.hostname}`] : []), ...(o.tty ? ['TERM=xterm'] : [])];
  const env = mergeEnv({ env: defaults, from: 'default' }, { env: imageEnv, from: 'image environment' }, { env: userEnv, from: 'environment' });
  if (!env.some((e) => e.startsWith('HOME='))) env.push(`HOME=${o.home}`);
  return env;
}
