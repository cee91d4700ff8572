// RuntimeService/CreateContainer: ContainerConfig → ContainerSpec, joined to its pod
// (PodManager.joinSpec), then ContainerManager.create. Named as the kubelet names them
// (k8s_<container>_<pod>_<namespace>_<uid>_<attempt>); the log goes to log_path under the
// pod's log directory.
import { existsSync, mkdirSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { BindMount, ContainerSpec, SecurityContext } from '../container/index.js';
import { BerthError, failedPrecondition, invalidArgument } from '../errors/index.js';
import type { Pod } from '../pod/index.js';
import { imageRef, type CallContext } from './context.js';
import { resourcesOf, type CriContainerMetadata } from './container-view.js';
import { CRI_METADATA, podMetadata, required } from './pod-view.js';
import type { ContainerConfig, CreateContainerRequest, LinuxContainerSecurityContext, Mount } from './types.js';

export async function createContainer(ctx: CallContext, req: CreateContainerRequest): Promise<{ container_id: string }> {
  const config = req.config;
  if (!config?.metadata) throw invalidArgument('CreateContainer: the container config has no metadata');
  required(config.metadata.name, 'ContainerMetadata.name');
  const pods = await ctx.engine.pods();
  const pod = await pods.get(required(req.pod_sandbox_id, 'pod_sandbox_id'));
  if (pod.state !== 'ready') throw failedPrecondition(`pod sandbox ${pod.id} is not ready`);
  const spec = containerSpecOf(config, pod);
  const joined = pods.joinSpec(pod);
  // The kubelet mounts its own /etc/hosts (and may others): the pod's file gives way to it.
  const given = new Set((spec.mounts ?? []).map((mt) => mt.destination));
  const shared = (joined.mounts ?? []).filter((mt) => !given.has(mt.destination));
  const c = await (await ctx.engine.containers()).create(
    { ...spec, ...joined, mounts: [...shared, ...(spec.mounts ?? [])] },
    { podId: pod.id, signal: ctx.signal },
  );
  return { container_id: c.id };
}

function containerSpecOf(config: ContainerConfig, pod: Pod): ContainerSpec {
  const m = config.metadata!;
  const p = podMetadata(pod);
  const image = imageRef(config.image, 'CreateContainer');
  const mounts = (config.mounts ?? []).map(bindMount);
  const criMounts: Mount[] = (config.mounts ?? []).map((cm, i) => ({ ...cm, host_path: mounts[i]!.source }));
  const meta: CriContainerMetadata = { name: m.name, attempt: m.attempt ?? 0, image: config.image!, mounts: criMounts };
  const linux = config.linux;
  return {
    image,
    name: `k8s_${m.name}_${p.name}_${p.namespace}_${p.uid}_${m.attempt ?? 0}`,
    // The CRI's command is the entrypoint, its args the image's CMD (the kubelet's rule).
    entrypoint: config.command?.length ? config.command : undefined,
    command: config.args?.length ? config.args : undefined,
    workdir: config.working_dir || undefined,
    env: (config.envs ?? []).map((e) => `${e.key}=${e.value}`),
    tty: config.tty,
    stdin: config.stdin,
    stdinOnce: config.stdin_once,
    labels: config.labels ?? {},
    annotations: { ...(config.annotations ?? {}), [CRI_METADATA]: JSON.stringify(meta) },
    mounts,
    devices: (config.devices ?? []).map((d) => ({ hostPath: d.host_path, containerPath: d.container_path, permissions: d.permissions || undefined })),
    sysctls: pod.spec.sysctls,
    logPath: pod.spec.logDirectory && config.log_path ? join(pod.spec.logDirectory, config.log_path) : undefined,
    security: securityOf(linux?.security_context ?? null),
    resources: linux?.resources ? resourcesOf(linux.resources) : undefined,
  };
}

/** A host path that does not exist is made a directory and symlinks are resolved (as containerd does). */
function bindMount(m: Mount): BindMount {
  required(m.container_path, 'Mount.container_path');
  required(m.host_path, 'Mount.host_path');
  if (!existsSync(m.host_path)) mkdirSync(m.host_path, { recursive: true });
  const propagation = m.propagation === 'PROPAGATION_BIDIRECTIONAL' ? 'rshared' : m.propagation === 'PROPAGATION_HOST_TO_CONTAINER' ? 'rslave' : 'rprivate';
  return { type: 'bind', source: realpathSync(m.host_path), destination: m.container_path, readOnly: m.readonly, propagation };
}

function securityOf(s: LinuxContainerSecurityContext | null): SecurityContext | undefined {
  if (!s) return undefined;
  const uid = s.run_as_user ? String(s.run_as_user.value) : undefined;
  const gid = s.run_as_group ? String(s.run_as_group.value) : undefined;
  const name = s.run_as_username || uid;
  if (gid !== undefined && name === undefined) throw invalidArgument('run_as_group is set without run_as_user or run_as_username');
  return {
    user: name === undefined ? undefined : gid === undefined ? name : `${name}:${gid}`,
    supplementalGroups: s.supplemental_groups?.length ? s.supplemental_groups.map(Number) : undefined,
    capAdd: s.capabilities?.add_capabilities?.length ? s.capabilities.add_capabilities : undefined,
    capDrop: s.capabilities?.drop_capabilities?.length ? s.capabilities.drop_capabilities : undefined,
    privileged: s.privileged,
    noNewPrivileges: s.no_new_privs,
    seccomp: seccompOf(s),
    maskedPaths: s.masked_paths?.length ? s.masked_paths : undefined,
    readonlyPaths: s.readonly_paths?.length ? s.readonly_paths : undefined,
    readOnlyRootfs: s.readonly_rootfs,
  };
}

/** The seccomp field, or the deprecated profile path ('runtime/default', 'docker/default', 'unconfined', 'localhost/…'). */
function seccompOf(s: LinuxContainerSecurityContext): SecurityContext['seccomp'] {
  if (s.seccomp) {
    if (s.seccomp.profile_type === 'Localhost') throw new BerthError('Unimplemented', 'seccomp Localhost profiles are not supported by berth yet');
    return s.seccomp.profile_type === 'Unconfined' ? 'unconfined' : 'default';
  }
  const path = s.seccomp_profile_path;
  if (path === 'unconfined') return 'unconfined';
  if (path.startsWith('localhost/')) throw new BerthError('Unimplemented', 'seccomp Localhost profiles are not supported by berth yet');
  // '' (as a kubelet sends when nothing is asked for), 'runtime/default', 'docker/default'.
  return 'default';
}
