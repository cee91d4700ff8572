// /networks/…: list, inspect, create (bridge), remove, connect/disconnect, prune. berth's
// networks are conflists named by name; docker's ID is derived from the name (stable,
// 64 hex digits), and `bridge`, what docker clients ask for, is the default network.
import { stat } from 'node:fs/promises';
import { networkLib } from '../cli/network.js';
import type { Engine } from '../engine/index.js';
import { alreadyExists, failedPrecondition, invalidArgument, isBerthError, notFound } from '../errors/index.js';
import { lookup } from './containers.js';
import { endpointId, networkId } from './ids.js';
import { filterParam, labelsMatch, pruneUntil, type Router } from './server.js';

type NetworkLib = Awaited<ReturnType<typeof networkLib>>['lib'];

interface NetworkEntry {
  name: string;
  id: string;
  info: Awaited<ReturnType<NetworkLib['listNetworks']>>['networks'][number];
  labels: Record<string, string>;
  options: Record<string, string>;
  /** When its conflist was written (ms): `network create` writes it once. */
  created: number;
}

async function networks(engine: Engine): Promise<{ all: NetworkEntry[]; defaultName: string }> {
  const { lib, confDir, defaults } = await networkLib(engine);
  await lib.ensureDefaultNetwork(confDir, defaults);
  const { networks: configs } = await lib.loadNetworks(confDir);
  const all: NetworkEntry[] = [];
  for (const info of (await lib.listNetworks(confDir)).networks) {
    const meta = configs.has(info.name) ? lib.networkMeta(configs.get(info.name)!) : { labels: {}, options: {} };
    const created = info.file ? (await stat(info.file).catch(() => undefined))?.mtimeMs ?? 0 : 0;
    all.push({ name: info.name, id: networkId(info.name), info, ...meta, created });
  }
  return { all, defaultName: (await engine.network()).defaultNetworkName };
}

/** The network a docker client names: name, ID or ID prefix; `bridge` is the default one. */
async function findNetwork(engine: Engine, ref: string): Promise<NetworkEntry & { isDefault: boolean }> {
  const { all, defaultName } = await networks(engine);
  const want = ref === 'bridge' ? defaultName : ref;
  const n = all.find((x) => x.name === want) ?? all.find((x) => x.id === want) ?? (want.length >= 3 ? onlyOne(all.filter((x) => x.id.startsWith(want)), ref) : undefined);
  if (!n) throw notFound(`network ${ref} not found`);
  return { ...n, isDefault: n.name === defaultName };
}

function onlyOne(found: NetworkEntry[], ref: string): NetworkEntry | undefined {
  if (found.length > 1) throw invalidArgument(`network ${ref} is ambiguous (${found.length} matches found based on ID prefix)`);
  return found[0];
}

/** docker's network object; Containers lists the ones attached now, with what they got there. */
async function networkView(engine: Engine, n: NetworkEntry, withContainers: boolean) {
  const containers: Record<string, unknown> = {};
  if (withContainers) {
    const mgr = await engine.containers();
    for (const id of await (await engine.network()).containersOn(n.name)) {
      const c = await mgr.get(id).catch(() => undefined);
      const a = c?.network?.attachments.find((x) => x.network === n.name);
      if (!c || !a) continue;
      containers[c.id] = { Name: c.name, EndpointID: endpointId(c.id, n.name), MacAddress: a.mac ?? '', IPv4Address: a.cidrs.find((x) => !x.includes(':')) ?? '', IPv6Address: a.cidrs.find((x) => x.includes(':')) ?? '' };
    }
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: new Date(n.created).toISOString(),
    Scope: 'local',
    Driver: n.info.driver,
    EnableIPv6: n.info.subnets.some((s) => s.subnet.includes(':')),
    IPAM: { Driver: 'default', Options: {}, Config: n.info.subnets.map((s) => ({ Subnet: s.subnet, ...(s.gateway ? { Gateway: s.gateway } : {}) })) },
    Internal: n.info.internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: n.options,
    Labels: n.labels,
  };
}

/**
 * docker's network prune filters: until (what was created before it goes), every label=
 * matching, and not every label!= matching; nothing else.
 */
function pruneTest(filters: [string, string][]): (n: NetworkEntry) => boolean {
  for (const [k] of filters) if (k !== 'until' && k !== 'label' && k !== 'label!') throw invalidArgument(`invalid filter '${k}'`);
  const untils = filters.filter(([k]) => k === 'until').map(([, v]) => v);
  if (untils.length > 1) throw invalidArgument('more than one until filter specified');
  const until = untils.length ? pruneUntil(untils[0]) : undefined;
  const labels = filters.filter(([k]) => k === 'label').map(([, v]) => v);
  const notLabels = filters.filter(([k]) => k === 'label!').map(([, v]) => v);
  return (n) =>
    (until === undefined || n.created < until) && labels.every((v) => labelsMatch(n.labels, v)) && !(notLabels.length > 0 && notLabels.every((v) => labelsMatch(n.labels, v)));
}

function networkFilter(n: NetworkEntry, isDefault: boolean, [k, v]: [string, string]): boolean {
  switch (k) {
    case 'name':
      return n.name.includes(v) || (isDefault && 'bridge'.includes(v));
    case 'id':
      return n.id.startsWith(v);
    case 'driver':
      return n.info.driver === v;
    case 'label':
      return labelsMatch(n.labels, v);
    case 'type':
      if (v !== 'custom' && v !== 'builtin') throw invalidArgument(`invalid filter: 'type'='${v}'`);
      return (v === 'builtin') === isDefault;
    case 'scope':
      return v === 'local';
    default:
      throw invalidArgument(`invalid filter '${k}'`);
  }
}

interface CreateBody {
  Name?: string;
  CheckDuplicate?: boolean;
  Driver?: string | null;
  Internal?: boolean;
  Attachable?: boolean;
  EnableIPv6?: boolean;
  Labels?: Record<string, string> | null;
  Options?: Record<string, string> | null;
  IPAM?: { Driver?: string | null; Config?: { Subnet?: string; Gateway?: string; IPRange?: string }[] | null } | null;
}

interface ConnectBody {
  Container?: string;
  EndpointConfig?: { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null } | null;
  Force?: boolean;
}

/** The names a container may start on again (its spec lists them): prune keeps those too. */
async function namedByContainers(engine: Engine): Promise<Set<string>> {
  return new Set((await (await engine.containers()).list({ all: true })).flatMap((c) => c.config.network?.networks ?? []));
}

export function networkRoutes(router: Router): void {
  router
    .add('GET', '/networks', async (req, reply) => {
      const filters = filterParam(req.query);
      const { all, defaultName } = await networks(req.engine);
      const named = filters.some(([k]) => k === 'dangling') ? await namedByContainers(req.engine) : new Set<string>();
      const net = await req.engine.network();
      const out = [];
      for (const n of all) {
        const isDefault = n.name === defaultName;
        let keep = true;
        for (const [k, v] of filters) {
          if (k === 'dangling') {
            const dangling = !isDefault && !named.has(n.name) && (await net.containersOn(n.name)).length === 0;
            keep &&= dangling === (v === 'true' || v === '1');
          } else keep &&= networkFilter(n, isDefault, [k, v]);
        }
        if (keep) out.push(await networkView(req.engine, n, false));
      }
      reply.json(200, out);
    })
    .add('GET', '/networks/{id}', async (req, reply) => {
      reply.json(200, await networkView(req.engine, await findNetwork(req.engine, req.params[0]), true));
    })
    .add('POST', '/networks/create', async (req, reply) => {
      const body = (await req.json<CreateBody>()) ?? {};
      if (!body.Name) throw invalidArgument('network name is required');
      const driver = body.Driver || 'bridge';
      if (driver !== 'bridge') throw invalidArgument(`network driver "${driver}" is not supported: berth makes bridge networks`);
      if (body.Name === 'bridge' || body.Name === 'host' || body.Name === 'none') throw failedPrecondition(`${body.Name} is a pre-defined network and cannot be created`);
      const configs = body.IPAM?.Config ?? [];
      if (configs.length > 1) throw invalidArgument('berth networks take one subnet');
      const { lib, confDir, defaults } = await networkLib(req.engine);
      await lib.ensureDefaultNetwork(confDir, defaults);
      let info;
      try {
        info = await lib.createNetwork(confDir, {
          name: body.Name,
          subnet: configs[0]?.Subnet || undefined,
          gateway: configs[0]?.Gateway || undefined,
          internal: !!body.Internal,
          // docker's option naming the bridge device.
          bridge: body.Options?.['com.docker.network.bridge.name'] || undefined,
          labels: body.Labels ?? undefined,
          options: body.Options ?? undefined,
          ipamDataDir: defaults.ipamDataDir,
          defaultBridge: defaults.bridge,
        });
      } catch (e) {
        if (isBerthError(e, 'AlreadyExists') && /^network /.test((e as Error).message)) throw alreadyExists(`network with name ${body.Name} already exists`);
        throw e;
      }
      reply.json(201, { Id: networkId(info.name), Warning: '' });
    })
    .add('DELETE', '/networks/{id}', async (req, reply) => {
      const n = await findNetwork(req.engine, req.params[0]);
      if (n.isDefault) throw failedPrecondition(`${req.params[0]} is a pre-defined network and cannot be removed`);
      const { lib, confDir } = await networkLib(req.engine);
      const net = await req.engine.network();
      const users = await net.containersOn(n.name);
      if (users.length > 0) throw failedPrecondition(`error while removing network: network ${n.name} id ${n.id} has active endpoints`);
      await lib.removeNetwork(confDir, n.name, users, net.dnsDir);
      reply.empty(204);
    })
    .add('POST', '/networks/{id}/connect', async (req, reply) => {
      const n = await findNetwork(req.engine, req.params[0]);
      const body = (await req.json<ConnectBody>()) ?? {};
      if (!body.Container) throw invalidArgument('a container to connect is required');
      const { mgr, c } = await lookup(req.engine, body.Container);
      const e = body.EndpointConfig ?? {};
      await mgr.connect(c.id, n.name, { aliases: e.Aliases ?? undefined, ip: e.IPAMConfig?.IPv4Address || undefined });
      reply.empty(200);
    })
    .add('POST', '/networks/{id}/disconnect', async (req, reply) => {
      const n = await findNetwork(req.engine, req.params[0]);
      const body = (await req.json<ConnectBody>()) ?? {};
      if (!body.Container) throw invalidArgument('a container to disconnect is required');
      const { mgr, c } = await lookup(req.engine, body.Container);
      await mgr.disconnect(c.id, n.name, { force: !!body.Force });
      reply.empty(200);
    })
    .add('POST', '/networks/prune', async (req, reply) => {
      const wanted = pruneTest(filterParam(req.query));
      const { all, defaultName } = await networks(req.engine);
      const { lib, confDir } = await networkLib(req.engine);
      const net = await req.engine.network();
      const named = await namedByContainers(req.engine);
      const deleted: string[] = [];
      for (const n of all) {
        if (n.name === defaultName || named.has(n.name)) continue;
        if (!wanted(n)) continue;
        const users = await net.containersOn(n.name);
        if (users.length > 0) continue;
        await lib.removeNetwork(confDir, n.name, users, net.dnsDir);
        deleted.push(n.name);
      }
      reply.json(200, { NetworksDeleted: deleted });
    });
}
