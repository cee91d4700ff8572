// Containers: the lifecycle over the store, the snapshotter, the OCI spec builder, the
// runtime and conmon.
//
// Glossary
//   spec          ContainerSpec, the neutral create request (CLI flags and CRI requests
//                 are translated into it); stored with the container.
//   incarnation   one run of a container under one conmon (conmon_pid names it); a restart
//                 makes a new one. Only the current incarnation's monitor reports count.
//   create        row ('creating', owned by the creator's pid) + instantiate.
//   instantiate   rootfs mount, network, /etc files, config.json, `runtime create` under
//                 conmon → 'created'.
//   recreate      instantiate a stopped container again (fresh monitor, same upper dir).
//   start         `runtime start` → 'running' (a stopped container is recreated first).
//   reconcile     bring a row up to date with exit files, vanished monitors and dead
//                 creators; every look at a container does it.
//   record exit   'stopped' with its code, for the incarnation that reported it; then
//                 release (or destroy for remove-on-exit).
//   release       give back what a run held: runtime state, cgroup, rootfs mount, network.
//                 A release whose process died is finished by the next look.
//   destroy       release, then remove files and the row (`rm`).
export { ContainerManager, type ManagerDeps, type ContainerDirs, type LogOptions, type StopOptions } from './manager.js';
export type { ContainerPaths } from './parts.js';
export type { ExecRequest } from './exec.js';
export { goDuration, type HealthCheck, type HealthOnFailure, type HealthResult, type HealthState, type HealthStatus } from './health.js';
export type { CreateOptions } from './create.js';
export type { ConnectOptions } from './connect.js';
export { ContainerRuntime, type RuntimeDirs, type RuntimeCreateOptions, type RuntimeExecOptions } from './runtime.js';
export { ContainerRecords } from './records.js';
export type { Container, ContainerState } from './types.js';
export type {
  ContainerSpec, ContainerNamespaces, ContainerMount, BindMount, VolumeMount, MountFlag, TmpfsMount, DeviceMapping, SecurityContext, ContainerResources, JoinedNamespaces, NetworkSpec, NetworkEndpoint, Propagation, RestartPolicy,
} from './spec.js';
export { cgroupPathOf, containerHostname, networkPlan } from './spec.js';
export { cgroupDetail, cgroupV2, diskUsage, networkInterfaces, systemCpuNanos, type CgroupDetail, type ContainerStats, type InterfaceStats } from './stats.js';
export { CommandExitError } from './exit-codes.js';
