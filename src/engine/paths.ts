// Where everything lives under the root and run dirs, decided here and nowhere else: the
// services get their directories from this layout and do not join these names themselves.
import { join } from 'node:path';
import type { Paths } from '../config/index.js';

export interface EnginePaths extends Paths {
  /** Content-addressed blobs: <root>/content. */
  content: string;
  /** Unpacked layers: <root>/snapshots. */
  snapshots: string;
  /** Per container: bundle, upper/work dirs, rootfs mount point, log: <root>/containers. */
  containers: string;
  /** CNI attachment records: <root>/cni/results. */
  cniResults: string;
  /** host-local IPAM data of the default network: <root>/cni/networks. */
  cniNetworks: string;
  /** XDG_RUNTIME_DIR of the CNI plugins: dnsname's dnsmasq files per network: <runRoot>/dnsname. */
  dnsname: string;
  /** Network namespaces, bind-mounted: <runRoot>/netns. */
  netns: string;
  /** conmon's exit files: <runRoot>/exits. */
  exits: string;
  /** conmon's attach sockets (short: sun_path is 108 bytes): <runRoot>/s. */
  sockets: string;
  /** The OCI runtime's state (runc --root): <runRoot>/runtime. */
  runtimeState: string;
  /** Per container at runtime: conmon's pid files and control fifo: <runRoot>/containers. */
  containerRuntime: string;
  /** Volumes, one dir each with its data in _data (as podman): <root>/volumes. */
  volumes: string;
  /** Per pod: the files its containers share: <root>/pods. */
  pods: string;
  /** Per pod at runtime: its pinned IPC and UTS namespaces: <runRoot>/pods. */
  podRuntime: string;
}

export function enginePaths(p: Paths): EnginePaths {
  return {
    root: p.root,
    runRoot: p.runRoot,
    configDir: p.configDir,
    content: join(p.root, 'content'),
    snapshots: join(p.root, 'snapshots'),
    containers: join(p.root, 'containers'),
    cniResults: join(p.root, 'cni', 'results'),
    cniNetworks: join(p.root, 'cni', 'networks'),
    dnsname: join(p.runRoot, 'dnsname'),
    netns: join(p.runRoot, 'netns'),
    exits: join(p.runRoot, 'exits'),
    sockets: join(p.runRoot, 's'),
    runtimeState: join(p.runRoot, 'runtime'),
    containerRuntime: join(p.runRoot, 'containers'),
    volumes: join(p.root, 'volumes'),
    pods: join(p.root, 'pods'),
    podRuntime: join(p.runRoot, 'pods'),
  };
}
