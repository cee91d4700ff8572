// /etc/hosts, /etc/hostname and /etc/resolv.conf: files of berth's in the container dir,
// bind-mounted over the image's. src/network writes them; with a network once it knows
// the addresses, for --network none and host here.
import { join } from 'node:path';
import type { Mount } from '../oci/index.js';

export const ETC_FILES = ['hosts', 'hostname', 'resolv.conf'];

export function etcBindMounts(dir: string): Mount[] {
  return ETC_FILES.map((f) => ({ destination: `/etc/${f}`, type: 'bind', source: join(dir, f), options: ['bind', 'rprivate'] }));
}

/** The files for --network none and host. */
export async function writeEtcFiles(dir: string, hostname: string, network: 'none' | 'host', addHosts: string[] = []): Promise<Mount[]> {
  const { writeContainerFiles } = await import('../network/index.js');
  await writeContainerFiles(dir, { network, hostname, ips: [], addHosts });
  return etcBindMounts(dir);
}
