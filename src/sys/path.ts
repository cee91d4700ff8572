// Finding host binaries (the OCI runtime, conmon's exit command) as execvp would, so that
// every caller agrees on what a name means.
import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join, resolve } from 'node:path';

/** The search path when $PATH is unset or empty (root's usual one). */
export const DEFAULT_SEARCH_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * The absolute path of an executable file: a name with a slash is that file (relative to
 * the working directory), any other name the first match in $PATH. Relative $PATH entries
 * are skipped: a name must not come to mean a file of whatever directory berth runs in.
 */
export function findExecutable(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = name.includes('/')
    ? [resolve(name)]
    : (env.PATH || DEFAULT_SEARCH_PATH).split(delimiter).filter(isAbsolute).map((dir) => join(dir, name));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      // keep looking
    }
  }
  return undefined;
}
