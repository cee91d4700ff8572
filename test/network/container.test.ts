// The way the container manager will use this folder: setup → OCI spec joins the netns and
// bind-mounts the generated files → a real runc container → teardown.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { buildSpec } from '../../src/oci/index.js';
import { NetworkManager, writeContainerFiles } from '../../src/network/index.js';
import { makeSandbox, runcRun } from '../oci/fixture.js';
import { attachmentChains, inNetns, listNetnsFiles, newWorld, reservations, stopProcess, tcpServerIn, vethsOn } from './fixture.js';

test('a runc container in the netns sees its eth0, resolv.conf and hosts, and reaches a peer', async () => {
  const w = newWorld();
  const sb = makeSandbox();
  const m = new NetworkManager({
    confDir: w.confDir, cacheDir: w.cacheDir, netnsDir: w.netnsDir, dnsDir: w.dnsDir,
    defaultNetwork: { name: 'ctrnet', bridge: w.bridge, subnet: w.subnet, ipamDataDir: w.ipamDir },
  });
  const id = `netct-${process.pid}`;
  const peer = `netpeer-${process.pid}`;
  try {
    const st = await m.setup(id);
    const peerSt = await m.setup(peer);
    const server = await tcpServerIn(peerSt.netns, 9999, 'peer says hi');
    try {
      const a = st.attachments[0]!;
      const files = await writeContainerFiles(join(w.dir, 'files'), {
        hostname: 'netct', name: 'web', ips: a.ips, gateway: a.gateways[0], dns: ['192.0.2.53'], addHosts: ['peer:' + peerSt.attachments[0]!.ips[0]],
      });
      const bind = (source: string, destination: string) => ({ destination, type: 'bind', source, options: ['bind', 'rprivate'] });
      const spec = await buildSpec({
        id, rootfs: sb.rootfs, hostname: 'netct', networkMode: 'private',
        namespaces: [{ type: 'network', path: st.netns }],
        mounts: [bind(files.resolvConf, '/etc/resolv.conf'), bind(files.hosts, '/etc/hosts'), bind(files.hostname, '/etc/hostname')],
        cgroupsPath: `${sb.cgroupParent}/${id}`,
        image: { Cmd: ['/bin/sh', '-c', 'ip -o -4 addr show eth0; cat /etc/resolv.conf /etc/hosts; nc -w 3 peer 9999'] },
      });
      const r = await runcRun(sb, id, spec);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`eth0\\s+inet ${a.cidrs[0]!.replace(/\./g, '\\.')}`));
      assert.match(r.stdout, /nameserver 192\.0\.2\.53/);
      assert.match(r.stdout, /\tnetct web\n/);
      assert.match(r.stdout, /peer says hi$/);
      assert.match(inNetns(st.netns, ['ip', '-o', 'link']), /eth0@/, 'the netns outlives the container process');
    } finally {
      await stopProcess(server);
    }
    await m.teardown(id);
    await m.teardown(peer);
    assert.deepEqual(listNetnsFiles(w), []);
    assert.deepEqual(vethsOn(w.bridge), []);
    assert.deepEqual(attachmentChains([['ctrnet', id], ['ctrnet', peer]]), []);
    assert.deepEqual(reservations(w, 'ctrnet'), []);
  } finally {
    await m.sweep(() => false).catch(() => undefined); // after a failure above: take down what is left
    sb.cleanup();
    w.cleanup();
  }
});
