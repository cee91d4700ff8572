// A container's changes to its image, read from its overlay upper dir as docker's diff
// reports them: A added, C changed, D deleted. overlayfs marks a deletion with a whiteout
// (a 0:0 character device) and a directory replaced as a whole with the opaque xattr; a
// path in the upper dir that some lower dir has is a change, otherwise an addition. The
// directories above a change are changed too.
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { lgetxattr } from '../sys/index.js';

export interface Change {
  kind: 'A' | 'C' | 'D';
  path: string;
}

async function existsBelow(lowers: string[], rel: string): Promise<boolean> {
  for (const l of lowers) {
    try {
      await lstat(join(l, rel));
      return true;
    } catch {
      // not in this layer
    }
  }
  return false;
}

const isOpaque = (dir: string) => {
  for (const name of ['trusted.overlay.opaque', 'user.overlay.opaque']) if (lgetxattr(dir, name)?.toString() === 'y') return true;
  return false;
};

export async function upperChanges(upper: string, lowers: string[]): Promise<Change[]> {
  const out: Change[] = [];
  // hidden: under an opaque dir, whose lower content is gone: everything there is new.
  const walk = async (rel: string, hidden: boolean): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(join(upper, rel));
    } catch {
      return;
    }
    for (const name of names.sort()) {
      const path = rel ? `${rel}/${name}` : name;
      const st = await lstat(join(upper, path));
      if (st.isCharacterDevice() && st.rdev === 0) {
        out.push({ kind: 'D', path: `/${path}` });
        continue;
      }
      const below = !hidden && (await existsBelow(lowers, path));
      out.push({ kind: below ? 'C' : 'A', path: `/${path}` });
      if (st.isDirectory()) await walk(path, hidden || !below || isOpaque(join(upper, path)));
    }
  };
  await walk('', false);
  return out;
}
