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
