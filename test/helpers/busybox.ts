// A tiny test image from the host's busybox-static: one binary, a symlink per applet,
// and just enough /etc for user and group lookups.
import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const HOST_BUSYBOX = '/bin/busybox';

export const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'tester:x:1000:1000:tester:/home/tester:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  '',
].join('\n');

export const GROUP = [
  'root:x:0:',
  'testers:x:1000:',
  'extra:x:2000:tester',
  'nogroup:x:65534:',
  '',
].join('\n');

let applets: string[] | undefined;

function busyboxApplets(): string[] {
  applets ??= execFileSync(HOST_BUSYBOX, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .filter((a) => a && a !== 'busybox');
  return applets;
}

/**
 * Writes a minimal busybox rootfs into dir: bin/busybox (copy of /bin/busybox), a symlink
 * per applet in bin/, etc/passwd (root, tester 1000:1000, nobody), etc/group (root,
 * testers 1000, extra 2000 with tester, nogroup), and empty root/, tmp/, home/tester/.
 */
export function makeBusyboxRootfs(dir: string): void {
  for (const d of ['bin', 'etc', 'root', 'tmp', 'home/tester']) mkdirSync(join(dir, d), { recursive: true });
  chmodSync(dir, 0o755); // a rootfs' / must be searchable by every user
  chmodSync(join(dir, 'root'), 0o700);
  chmodSync(join(dir, 'tmp'), 0o1777);
  chownSync(join(dir, 'home/tester'), 1000, 1000);
  copyFileSync(HOST_BUSYBOX, join(dir, 'bin/busybox'));
  chmodSync(join(dir, 'bin/busybox'), 0o755);
  for (const applet of busyboxApplets()) symlinkSync('busybox', join(dir, 'bin', applet));
  writeFileSync(join(dir, 'etc/passwd'), PASSWD);
  writeFileSync(join(dir, 'etc/group'), GROUP);
}

let tarball: string | undefined;

/**
 * An uncompressed tarball of makeBusyboxRootfs (entries without a "./" prefix, numeric
 * owners, sorted, mtime 0: the same bytes every time). Built once per process and removed
 * when the process exits.
 */
export function busyboxTarball(): string {
  if (tarball) return tarball;
  const dir = mkdtempSync('/tmp/berth-test-busybox-');
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const rootfs = join(dir, 'rootfs');
  makeBusyboxRootfs(rootfs);
  const out = join(dir, 'busybox.tar');
  execFileSync('tar', ['-C', rootfs, '-cf', out, '--numeric-owner', '--sort=name', '--mtime=@0', 'bin', 'etc', 'home', 'root', 'tmp']);
  rmSync(rootfs, { recursive: true, force: true });
  tarball = out;
  return out;
}
