// /etc/hosts, /etc/hostname and /etc/resolv.conf: files of berth's in the container dir,
// bind-mounted over the image's. With a network, src/network writes them (it knows the
// addresses); for --network none and host they are written here.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Mount } from '../oci/index.js';

export const ETC_FILES = ['hosts', 'hostname', 'resolv.conf'];

export function etcBindMounts(dir: string): Mount[] {
  return ETC_FILES.map((f) => ({ destination: `/etc/${f}`, type: 'bind', source: join(dir, f), options: ['bind', 'rprivate'] }));
}

/**
 * The files for --network none and host: host networking gets the host's own hosts and
 * resolv.conf, whose loopback nameservers are reachable there.
 */
export function writeEtcFiles(dir: string, hostname: string, network: 'none' | 'host', addHosts: string[] = []): Mount[] {
  let hosts = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
  let resolv = '';
  if (network === 'host') {
    hosts = readOr('/etc/hosts', hosts);
    resolv = readOr('/etc/resolv.conf', '');
  }
  hosts += `127.0.1.1\t${hostname}\n`;
  for (const h of addHosts) {
    const i = h.lastIndexOf(':');
    hosts += `${h.slice(i + 1)}\t${h.slice(0, i)}\n`;
  }
  writeFileSync(join(dir, 'hosts'), hosts);
  writeFileSync(join(dir, 'hostname'), hostname + '\n');
  writeFileSync(join(dir, 'resolv.conf'), resolv);
  return etcBindMounts(dir);
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}
