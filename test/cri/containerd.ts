// Debian's containerd 1.6 as the CRI peer of berthd, for the differential tests and
// bench/cri: its own config, root, state and socket in the instance's temp dir, the CRI
// plugin on cgroupfs with runc through io.containerd.runc.v2, a bridge network on the
// instance's bridge and subnet, and a docker-registry on 127.0.0.1 that serves its pause
// image and the busybox test image. stop() removes everything it made.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, rmdirSync, writeFileSync } from 'node:fs';
import { constants } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { busyboxTarball, killAndWait, processesUsing, runCommand, unmountUnder, type Instance } from '../helpers/index.js';
import { HOST_ARCH, skopeoPush, startRegistry, tempDir } from '../registry/fixture.js';
import { criClient, type CriClient } from './client.js';

type After = { after: (fn: () => unknown) => void };

export const CONTAINERD = '/usr/bin/containerd';
/** The shims put their sockets here whatever the state dir is (containerd 1.6). */
const SHIM_SOCKETS = '/run/containerd/s';
/** The CRI plugin's namespace: its cgroups are <controller>/k8s.io/<id> without a cgroup parent. */
const CGROUP_NS = 'k8s.io';

export interface PeerImages {
  /** host:port of the registry. */
  host: string;
  busybox: string;
  pause: string;
}

const sha = (b: Buffer) => 'sha256:' + createHash('sha256').update(b).digest('hex');

/** A one-layer OCI image (tar uncompressed → gzip) pushed to dest. */
async function pushTarImage(t: After, tar: Buffer, config: object, dest: string): Promise<void> {
  const layout = join(tempDir(t, 'peer-layout'), 'layout');
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true });
  writeFileSync(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const put = (mediaType: string, data: Buffer) => {
    const digest = sha(data);
    writeFileSync(join(layout, 'blobs', 'sha256', digest.slice(7)), data);
    return { mediaType, digest, size: data.length };
  };
  const layer = put('application/vnd.oci.image.layer.v1.tar+gzip', gzipSync(tar));
  const cfg = put(
    'application/vnd.oci.image.config.v1+json',
    Buffer.from(JSON.stringify({ architecture: HOST_ARCH, os: 'linux', config, rootfs: { type: 'layers', diff_ids: [sha(tar)] } })),
  );
  const manifest = put('application/vnd.oci.image.manifest.v1+json', Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', config: cfg, layers: [layer] })));
  writeFileSync(join(layout, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [{ ...manifest, annotations: { 'org.opencontainers.image.ref.name': 'latest' } }] }));
  await skopeoPush(layout, 'latest', dest);
}

/** The busybox test image with config (Cmd, Env, User …) pushed to dest. */
export async function pushBusybox(t: After, dest: string, config: object = {}): Promise<void> {
  await pushTarImage(t, readFileSync(busyboxTarball()), { Cmd: ['/bin/sh'], Env: ['PATH=/bin'], ...config }, dest);
}

/**
 * A registry on 127.0.0.1 holding the busybox test image and a pause image: the host's
 * static catatonit in pause mode (-P), so no image comes from anywhere but this machine.
 */
export async function startPeerRegistry(t: After): Promise<PeerImages> {
  const reg = await startRegistry(t);
  const busybox = `${reg.host}/berth-test/busybox:latest`;
  const pause = `${reg.host}/berth-test/pause:latest`;
  await pushBusybox(t, busybox);
  const dir = tempDir(t, 'pause-rootfs');
  mkdirSync(join(dir, 'rootfs'));
  writeFileSync(join(dir, 'rootfs', 'catatonit'), readFileSync('/usr/bin/catatonit'), { mode: 0o755 });
  const tar = await runCommand('tar', ['-C', join(dir, 'rootfs'), '--numeric-owner', '--owner=0', '--group=0', '--mtime=@0', '-cf', join(dir, 'pause.tar'), 'catatonit'], process.env);
  if (tar.code !== 0) throw new Error(`tar: ${tar.stderr}`);
  await pushTarImage(t, readFileSync(join(dir, 'pause.tar')), { Entrypoint: ['/catatonit', '-P'] }, pause);
  return { host: reg.host, busybox, pause };
}

export interface Containerd {
  socket: string;
  child: ChildProcess;
  cri: CriClient;
  images: PeerImages;
  /** stderr so far: containerd's log lines. */
  logs(): string;
  /** Removes every pod through the CRI, then SIGTERM; resolves with the exit code. Idempotent. */
  stop(): Promise<number>;
  exited: Promise<number>;
}

export interface ContainerdOptions {
  images?: PeerImages;
  /** More plain-HTTP registries on 127.0.0.1 (host:port) it may pull from. */
  insecure?: string[];
  socket?: string;
}

function configToml(dir: string, socket: string, images: PeerImages, insecure: string[]): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return (
    `version = 2
root = "${dir}/root"
state = "${dir}/state"
# Everything else containerd would put on the host goes here too.
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = "${socket}"

[ttrpc]
  address = "${socket}.ttrpc"

[debug]
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"

[${cri}]
  sandbox_image = "${images.pause}"
  # root here lacks CAP_SYS_RESOURCE: never ask for a lower oom_score_adj than our own.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  # Writable layer sizes are measured this often (s), not when ContainerStats asks.
  stats_collect_period = 1
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true

[${cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[${cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[${cri}.containerd.runtimes.runc.options]
  SystemdCgroup = false
  BinaryName = "/usr/sbin/runc"
  Root = "${dir}/runc"

[${cri}.cni]
  bin_dir = "/usr/lib/cni"
  conf_dir = "${dir}/cni"

` +
    // The local registries speak plain HTTP.
    [images.host, ...insecure].map((h) => `\n[${cri}.registry.mirrors."${h}"]\n  endpoint = ["http://${h}"]\n`).join('')
  );
}

/**
 * A bridge network on the instance's bridge and subnet, as berth's default network is, with
 * containerd's usual chain (bridge, portmap). The benchmarks give berthd the same one.
 */
export function peerConflist(inst: Instance): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: 'peer',
    plugins: [
      { type: 'bridge', bridge: inst.bridge, isGateway: true, ipMasq: true, hairpinMode: true, ipam: { type: 'host-local', ranges: [[{ subnet: inst.subnet }]], routes: [{ dst: '0.0.0.0/0' }] } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  });
}

const cgroupDirs = () => {
  try {
    return readdirSync('/sys/fs/cgroup').map((c) => join('/sys/fs/cgroup', c, CGROUP_NS));
  } catch {
    return [];
  }
};

/**
 * Starts containerd in inst.base/containerd; t.after stops it. images defaults to a fresh
 * registry of its own (startPeerRegistry).
 */
export async function startContainerd(t: After, inst: Instance, o: ContainerdOptions = {}): Promise<Containerd> {
  const images = o.images ?? (await startPeerRegistry(t));
  const dir = join(inst.base, 'containerd');
  const socket = o.socket ?? join(dir, 'containerd.sock');
  mkdirSync(join(dir, 'cni'), { recursive: true });
  writeFileSync(join(dir, 'cni', '10-peer.conflist'), peerConflist(inst));
  writeFileSync(join(dir, 'config.toml'), configToml(dir, socket, images, o.insecure ?? []));
  // What exists before, so that stop() removes only what this containerd made.
  const hadShimDir = existsSync(SHIM_SOCKETS);
  const shimSocketsBefore = new Set(hadShimDir ? readdirSync(SHIM_SOCKETS) : []);
  const cgroupsBefore = new Set(cgroupDirs().filter((d) => existsSync(d)));

  const child = spawn(CONTAINERD, ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-200_000)));
  const exited = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0))));
  const cri = criClient(socket);

  let stopping: Promise<number> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      // Through the CRI first: that is what removes the pods' netns, CNI rules, shims and mounts.
      if (child.exitCode === null) {
        try {
          const pods = (await cri.runtime('ListPodSandbox', {}, { timeoutMs: 10_000 })).items as { id: string }[];
          await Promise.all(
            pods.map(async (p) => {
              await cri.runtime('StopPodSandbox', { pod_sandbox_id: p.id }, { timeoutMs: 60_000 });
              await cri.runtime('RemovePodSandbox', { pod_sandbox_id: p.id }, { timeoutMs: 60_000 });
            }),
          );
        } catch (e) {
          console.error(`containerd peer: removing its pods: ${(e as Error).message}`);
        }
      }
      cri.close();
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      const code = await exited;
      clearTimeout(timer);
      // Whatever the CRI did not remove: shims and containers, netns and rootfs mounts.
      await killAndWait(processesUsing(dir).map((p) => p.pid));
      unmountUnder(dir);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      for (const name of existsSync(SHIM_SOCKETS) ? readdirSync(SHIM_SOCKETS) : []) {
        if (!shimSocketsBefore.has(name)) rmSync(join(SHIM_SOCKETS, name), { force: true });
      }
      if (!hadShimDir) for (const d of [SHIM_SOCKETS, '/run/containerd']) tryRmdir(d);
      for (const d of cgroupDirs()) if (!cgroupsBefore.has(d)) removeCgroupTree(d);
      return code;
    })());
  t.after(stop);
  inst.stopFirst(stop);

  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`containerd exited with ${child.exitCode}: ${stderr.slice(-4000)}`);
    if (existsSync(socket)) {
      try {
        const st = await cri.runtime('Status', {}, { timeoutMs: 2000 });
        // The CRI plugin loads the CNI config a moment after it serves.
        if (st.status.conditions.every((c: { status: boolean }) => c.status)) break;
      } catch {
        // not serving yet
      }
    }
    if (Date.now() > deadline) throw new Error(`containerd did not start serving: ${stderr.slice(-4000)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return { socket, child, cri, images, logs: () => stderr, stop, exited };
}

function tryRmdir(d: string): void {
  try {
    rmdirSync(d);
  } catch {
    // not empty, or not there
  }
}

/** A cgroup dir and its (empty) children, deepest first: cgroupfs removes only empty cgroups. */
function removeCgroupTree(d: string): void {
  let names: string[] = [];
  try {
    names = readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return;
  }
  for (const n of names) removeCgroupTree(join(d, n));
  tryRmdir(d);
}
