// POST /containers/create: docker's create body (Config + HostConfig + NetworkingConfig,
// what `docker run` sends) back into the run flags it came from, so that the API and the
// CLI share one translation into a ContainerSpec, with the same checks and messages.
import type { FlagValues } from '../cli/args.js';
import { invalidArgument } from '../errors/index.js';

export interface CreateBody {
  Hostname?: string;
  User?: string;
  Tty?: boolean;
  OpenStdin?: boolean;
  Env?: string[] | null;
  Cmd?: string[] | string | null;
  Entrypoint?: string[] | string | null;
  Image?: string;
  WorkingDir?: string;
  Labels?: Record<string, string> | null;
  StopSignal?: string;
  StopTimeout?: number | null;
  ExposedPorts?: Record<string, unknown> | null;
  /** Durations in nanoseconds; 0: the default. */
  Healthcheck?: { Test?: string[] | null; Interval?: number; Timeout?: number; Retries?: number; StartPeriod?: number } | null;
  HostConfig?: HostConfig;
  NetworkingConfig?: { EndpointsConfig?: Record<string, { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null } | null> | null };
}

export interface HostConfig {
  Binds?: string[] | null;
  Mounts?: { Type?: string; Source?: string; Target?: string; ReadOnly?: boolean; BindOptions?: { Propagation?: string } | null; TmpfsOptions?: { SizeBytes?: number } | null }[] | null;
  Tmpfs?: Record<string, string> | null;
  PortBindings?: Record<string, { HostIp?: string; HostPort?: string }[] | null> | null;
  PublishAllPorts?: boolean;
  RestartPolicy?: { Name?: string; MaximumRetryCount?: number } | null;
  AutoRemove?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  Privileged?: boolean;
  ReadonlyRootfs?: boolean;
  SecurityOpt?: string[] | null;
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  NanoCpus?: number;
  CpuShares?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  Ulimits?: { Name: string; Soft: number; Hard: number }[] | null;
  Dns?: string[] | null;
  DnsSearch?: string[] | null;
  DnsOptions?: string[] | null;
  ExtraHosts?: string[] | null;
  NetworkMode?: string;
  Init?: boolean | null;
  LogConfig?: { Type?: string; Config?: Record<string, string> | null } | null;
  ShmSize?: number;
  Sysctls?: Record<string, string> | null;
  PidMode?: string;
  IpcMode?: string;
  UTSMode?: string;
  GroupAdd?: string[] | null;
  OomScoreAdj?: number;
  Devices?: { PathOnHost: string; PathInContainer?: string; CgroupPermissions?: string }[] | null;
}

const list = (v: string[] | null | undefined) => (v && v.length ? v : undefined);

/** The resource flags (run's, update's) a HostConfig's limits stand for; zero: not set. */
export function resourceFlagsOf(h: HostConfig): FlagValues {
  const f: FlagValues = {};
  if (h.Memory) f.memory = String(h.Memory);
  if (h.MemorySwap) f['memory-swap'] = String(h.MemorySwap);
  if (h.MemoryReservation) f['memory-reservation'] = String(h.MemoryReservation);
  if (h.NanoCpus) f.cpus = String(h.NanoCpus / 1e9);
  if (h.CpuShares) f['cpu-shares'] = h.CpuShares;
  if (h.CpusetCpus) f['cpuset-cpus'] = h.CpusetCpus;
  if (h.CpusetMems) f['cpuset-mems'] = h.CpusetMems;
  if (h.PidsLimit) f['pids-limit'] = h.PidsLimit;
  return f;
}

/** The health flags a Healthcheck stands for (Test ["NONE"]: none, also not the image's). */
function healthFlagsOf(hc: CreateBody['Healthcheck']): FlagValues {
  if (!hc) return {};
  const f: FlagValues = {};
  const test = hc.Test ?? [];
  if (test[0] === 'NONE') f['no-healthcheck'] = true;
  else if (test.length > 0) f['health-cmd'] = test[0] === 'CMD-SHELL' && test.length === 2 ? test[1]! : JSON.stringify(test);
  const ms = (ns: number | undefined) => (ns ? `${ns / 1e6}ms` : undefined);
  if (ms(hc.Interval)) f['health-interval'] = ms(hc.Interval)!;
  if (ms(hc.Timeout)) f['health-timeout'] = ms(hc.Timeout)!;
  if (ms(hc.StartPeriod)) f['health-start-period'] = ms(hc.StartPeriod)!;
  if (hc.Retries) f['health-retries'] = hc.Retries;
  return f;
}

/** --restart's value for a RestartPolicy ('no' when none). */
export function restartFlag(h: HostConfig): string {
  const p = h.RestartPolicy;
  if (!p?.Name || p.Name === 'no') return 'no';
  return p.Name === 'on-failure' && p.MaximumRetryCount ? `on-failure:${p.MaximumRetryCount}` : p.Name;
}

/** The run flags and positionals (IMAGE [CMD...]) a create body stands for. */
export function flagsFromCreateBody(body: CreateBody, name: string | null): { flags: FlagValues; args: string[] } {
  if (!body || typeof body !== 'object') throw invalidArgument('the container config is missing');
  if (!body.Image) throw invalidArgument('config.Image must be given');
  const h = body.HostConfig ?? {};
  const f: FlagValues = {};
  const set = (k: string, v: FlagValues[string]) => {
    if (v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && v.length === 0)) f[k] = v;
  };
  set('name', name ?? undefined);
  set('hostname', body.Hostname);
  set('user', body.User);
  set('tty', body.Tty || undefined);
  set('interactive', body.OpenStdin || undefined);
  set('env', list(body.Env));
  set('workdir', body.WorkingDir);
  set('label', Object.entries(body.Labels ?? {}).map(([k, v]) => `${k}=${v}`));
  set('stop-signal', body.StopSignal);
  set('stop-timeout', body.StopTimeout ?? undefined);
  set('expose', Object.keys(body.ExposedPorts ?? {}));
  Object.assign(f, healthFlagsOf(body.Healthcheck));
  const entrypoint = typeof body.Entrypoint === 'string' ? [body.Entrypoint] : body.Entrypoint;
  if (entrypoint) set('entrypoint', entrypoint.length <= 1 ? entrypoint[0] ?? '' : JSON.stringify(entrypoint));
  if (entrypoint && entrypoint.length === 0) f.entrypoint = '';

  set('volume', list(h.Binds));
  set('mount', (h.Mounts ?? []).map(mountFlag));
  set('tmpfs', Object.entries(h.Tmpfs ?? {}).map(([path, opts]) => (opts ? `${path}:${opts}` : path)));
  set('publish', Object.entries(h.PortBindings ?? {}).flatMap(([port, bindings]) => (bindings?.length ? bindings : [{}]).map((b) => publishFlag(port, b))));
  set('publish-all', h.PublishAllPorts || undefined);
  const restart = restartFlag(h);
  if (restart !== 'no') set('restart', restart);
  set('rm', h.AutoRemove || undefined);
  set('cap-add', list(h.CapAdd));
  set('cap-drop', list(h.CapDrop));
  set('privileged', h.Privileged || undefined);
  set('read-only', h.ReadonlyRootfs || undefined);
  set('security-opt', list(h.SecurityOpt));
  Object.assign(f, resourceFlagsOf(h));
  set('ulimit', (h.Ulimits ?? []).map((u) => `${u.Name}=${u.Soft}:${u.Hard}`));
  set('dns', list(h.Dns));
  set('dns-search', list(h.DnsSearch));
  set('dns-option', list(h.DnsOptions));
  set('add-host', list(h.ExtraHosts));
  set('init', h.Init || undefined);
  if (h.ShmSize) set('shm-size', String(h.ShmSize));
  set('sysctl', Object.entries(h.Sysctls ?? {}).map(([k, v]) => `${k}=${v}`));
  set('pid', h.PidMode);
  set('ipc', h.IpcMode && h.IpcMode !== 'private' && h.IpcMode !== 'shareable' ? h.IpcMode : undefined);
  set('uts', h.UTSMode);
  set('group-add', list(h.GroupAdd));
  if (h.OomScoreAdj) set('oom-score-adj', h.OomScoreAdj);
  set('device', (h.Devices ?? []).map((d) => [d.PathOnHost, d.PathInContainer, d.CgroupPermissions].filter(Boolean).join(':')));
  const maxSize = h.LogConfig?.Config?.['max-size'];
  if (maxSize) set('log-opt', [`max-size=${maxSize}`]);
  if (h.LogConfig?.Type === 'none') set('log-driver', 'none');

  // NetworkMode names one network (or none/host/container:); EndpointsConfig may name more.
  const endpoints = Object.entries(body.NetworkingConfig?.EndpointsConfig ?? {});
  const mode = h.NetworkMode && h.NetworkMode !== 'default' ? h.NetworkMode : undefined;
  const networks = [...new Set([...(mode ? [mode] : []), ...endpoints.map(([n]) => n)])].filter((n) => n !== 'default');
  if (networks.length) set('network', networks.join(','));
  set('network-alias', endpoints.flatMap(([, e]) => e?.Aliases ?? []));
  set('ip', endpoints.map(([, e]) => e?.IPAMConfig?.IPv4Address).find(Boolean));

  const cmd = typeof body.Cmd === 'string' ? [body.Cmd] : body.Cmd ?? [];
  return { flags: f, args: [body.Image, ...cmd] };
}

/** One PortBindings entry as `-p` text: [IP:][HOSTPORT:]PORT/PROTO. */
function publishFlag(port: string, b: { HostIp?: string; HostPort?: string }): string {
  if (b.HostIp) return `${b.HostIp}:${b.HostPort ?? ''}:${port}`;
  return b.HostPort ? `${b.HostPort}:${port}` : port;
}

/** One HostConfig.Mounts entry as `--mount` text. */
function mountFlag(m: NonNullable<HostConfig['Mounts']>[number]): string {
  const parts = [`type=${m.Type ?? 'volume'}`];
  if (m.Source) parts.push(`source=${m.Source}`);
  if (!m.Target) throw invalidArgument('a mount needs a Target');
  parts.push(`target=${m.Target}`);
  if (m.ReadOnly) parts.push('readonly');
  if (m.BindOptions?.Propagation) parts.push(`bind-propagation=${m.BindOptions.Propagation}`);
  if (m.TmpfsOptions?.SizeBytes) parts.push(`tmpfs-size=${m.TmpfsOptions.SizeBytes}`);
  return parts.join(',');
}
