// The CRI messages berthd reads and writes, as @grpc/proto-loader hands them over (field
// names as in proto/api.proto, enums as their names, int64 as strings on the way in;
// numbers or decimal strings on the way out). Only what the served RPCs use.

export interface ImageSpec {
  image: string;
  annotations: Record<string, string>;
  user_specified_image?: string;
  runtime_handler?: string;
  image_ref?: string;
}

export interface Int64Value {
  value: number | string;
}

export interface Image {
  id: string;
  repo_tags: string[];
  repo_digests: string[];
  size: number;
  uid: Int64Value | null;
  username: string;
  spec: ImageSpec;
  pinned: boolean;
}

export interface AuthConfig {
  username: string;
  password: string;
  auth: string;
  server_address: string;
  identity_token: string;
  registry_token: string;
}

export interface VersionRequest {
  version: string;
}
export interface VersionResponse {
  version: string;
  runtime_name: string;
  runtime_version: string;
  runtime_api_version: string;
}

export interface StatusRequest {
  verbose: boolean;
}
export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}
export interface StatusResponse {
  status: { conditions: RuntimeCondition[] };
  info: Record<string, string>;
  runtime_handlers: { name: string; features: { recursive_read_only_mounts: boolean; user_namespaces: boolean } }[];
  features: { supplemental_groups_policy: boolean; user_namespaces_host_network: boolean };
}

export type RuntimeConfigRequest = Record<string, never>;
export interface RuntimeConfigResponse {
  linux: { cgroup_driver: 'SYSTEMD' | 'CGROUPFS' };
}

export interface UpdateRuntimeConfigRequest {
  runtime_config: { network_config: { pod_cidr: string } | null } | null;
}
export type UpdateRuntimeConfigResponse = Record<string, never>;

export interface ListImagesRequest {
  filter: { image: ImageSpec | null } | null;
}
export interface ListImagesResponse {
  images: Image[];
}

export interface ImageStatusRequest {
  image: ImageSpec | null;
  verbose: boolean;
}
export interface ImageStatusResponse {
  image?: Image;
  info?: Record<string, string>;
}

export interface PullImageRequest {
  image: ImageSpec | null;
  auth: AuthConfig | null;
  sandbox_config: unknown;
}
export interface PullImageResponse {
  image_ref: string;
}

export interface RemoveImageRequest {
  image: ImageSpec | null;
}
export type RemoveImageResponse = Record<string, never>;

export type ImageFsInfoRequest = Record<string, never>;
export interface FilesystemUsage {
  timestamp: string;
  fs_id: { mountpoint: string };
  used_bytes: { value: number };
  inodes_used: { value: number };
}
export interface ImageFsInfoResponse {
  image_filesystems: FilesystemUsage[];
  container_filesystems: FilesystemUsage[];
}

export type NamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
export interface NamespaceOption {
  network: NamespaceMode;
  pid: NamespaceMode;
  ipc: NamespaceMode;
  target_id: string;
}

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface PortMapping {
  protocol: 'TCP' | 'UDP' | 'SCTP';
  container_port: number;
  host_port: number;
  host_ip: string;
}

export interface Int64Field {
  value: string | number;
}

export interface LinuxContainerResources {
  cpu_period: string;
  cpu_quota: string;
  cpu_shares: string;
  memory_limit_in_bytes: string;
  oom_score_adj: string;
  cpuset_cpus: string;
  cpuset_mems: string;
  hugepage_limits: { page_size: string; limit: string }[];
  unified: Record<string, string>;
  memory_swap_limit_in_bytes: string;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata | null;
  hostname: string;
  log_directory: string;
  dns_config: { servers: string[]; searches: string[]; options: string[] } | null;
  port_mappings: PortMapping[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  linux: {
    cgroup_parent: string;
    security_context: { namespace_options: NamespaceOption | null; privileged: boolean } | null;
    sysctls: Record<string, string>;
  } | null;
}

export interface RunPodSandboxRequest {
  config: PodSandboxConfig | null;
  runtime_handler: string;
}

export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata;
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
  created_at: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  runtime_handler: string;
}

export interface PodSandboxFilter {
  id: string;
  state: { state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY' } | null;
  label_selector: Record<string, string>;
}

export interface Mount {
  container_path: string;
  host_path: string;
  readonly: boolean;
  selinux_relabel: boolean;
  propagation: 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';
}

export interface ContainerMetadata {
  name: string;
  attempt: number;
}

export interface LinuxContainerSecurityContext {
  capabilities: { add_capabilities: string[]; drop_capabilities: string[] } | null;
  privileged: boolean;
  namespace_options: NamespaceOption | null;
  run_as_user: Int64Field | null;
  run_as_group: Int64Field | null;
  run_as_username: string;
  readonly_rootfs: boolean;
  supplemental_groups: string[];
  no_new_privs: boolean;
  masked_paths: string[];
  readonly_paths: string[];
  seccomp: { profile_type: 'RuntimeDefault' | 'Unconfined' | 'Localhost'; localhost_ref: string } | null;
  seccomp_profile_path: string;
}

export interface ContainerConfig {
  metadata: ContainerMetadata | null;
  image: ImageSpec | null;
  command: string[];
  args: string[];
  working_dir: string;
  envs: { key: string; value: string }[];
  mounts: Mount[];
  devices: { container_path: string; host_path: string; permissions: string }[];
  labels: Record<string, string>;
  annotations: Record<string, string>;
  log_path: string;
  stdin: boolean;
  stdin_once: boolean;
  tty: boolean;
  linux: { resources: LinuxContainerResources | null; security_context: LinuxContainerSecurityContext | null } | null;
  stop_signal: string;
}

export interface CreateContainerRequest {
  pod_sandbox_id: string;
  config: ContainerConfig | null;
  sandbox_config: PodSandboxConfig | null;
}

export type ContainerStateName = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export interface ContainerFilter {
  id: string;
  state: { state: ContainerStateName } | null;
  pod_sandbox_id: string;
  label_selector: Record<string, string>;
}
