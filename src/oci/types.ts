// The OCI runtime-spec config.json shape (runtime-spec 1.0.2, what runc 1.1 reads).
// Only the fields berth fills in are typed; the spec allows more.

export interface Mount {
  destination: string;
  type: string;
  source: string;
  options: string[];
}

export interface User {
  uid: number;
  gid: number;
  additionalGids?: number[];
}

export interface Capabilities {
  bounding: string[];
  effective: string[];
  permitted: string[];
  inheritable: string[];
  ambient?: string[];
}

export interface Rlimit {
  type: string; // RLIMIT_NOFILE …
  soft: number;
  hard: number;
}

export interface Process {
  terminal: boolean;
  user: User;
  args: string[];
  env: string[];
  cwd: string;
  capabilities: Capabilities;
  rlimits?: Rlimit[];
  noNewPrivileges: boolean;
  oomScoreAdj?: number;
}

export interface Namespace {
  type: string; // pid, network, mount, ipc, uts, user, cgroup
  path?: string;
}

export interface Device {
  path: string;
  type: 'c' | 'b' | 'p' | 'u';
  major: number;
  minor: number;
  fileMode?: number;
  uid?: number;
  gid?: number;
}

export interface DeviceRule {
  allow: boolean;
  type?: 'a' | 'c' | 'b';
  major?: number; // absent = wildcard
  minor?: number;
  access: string; // 'rwm' subset
}

export interface Resources {
  devices: DeviceRule[];
  memory?: { limit?: number; swap?: number; reservation?: number };
  cpu?: { quota?: number; period?: number; shares?: number; cpus?: string; mems?: string };
  pids?: { limit: number };
  hugepageLimits?: { pageSize: string; limit: number }[];
  unified?: Record<string, string>;
}

export interface SeccompArg {
  index: number;
  value: number;
  valueTwo?: number;
  op: string; // SCMP_CMP_EQ, SCMP_CMP_MASKED_EQ …
}

export interface SeccompRule {
  names: string[];
  action: string; // SCMP_ACT_ERRNO …
  errnoRet?: number;
  args?: SeccompArg[];
}

export interface Seccomp {
  defaultAction: string;
  defaultErrnoRet?: number;
  architectures: string[];
  syscalls: SeccompRule[];
}

export interface Linux {
  namespaces: Namespace[];
  devices: Device[];
  resources: Resources;
  cgroupsPath: string;
  seccomp?: Seccomp;
  maskedPaths?: string[];
  readonlyPaths?: string[];
  sysctl?: Record<string, string>;
  rootfsPropagation?: string;
}

export interface RuntimeSpec {
  ociVersion: string;
  process: Process;
  root: { path: string; readonly: boolean };
  hostname?: string;
  mounts: Mount[];
  linux: Linux;
  annotations?: Record<string, string>;
}

/** The image config's `config` object (OCI image-spec), the part that shapes the process. */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
  StopSignal?: string;
  Labels?: Record<string, string> | null;
}
