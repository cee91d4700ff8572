// network connect / disconnect: a container's list of networks changes. A container whose
// netns is up (created or running) is attached or detached right away through CNI; for a
// stopped one only the record changes, and its next start attaches what it lists. The
// list, and what was asked per network (aliases, an address), live in the spec, so
// inspect, a restart and the teardown all see the same networks.
import { alreadyExists, failedPrecondition, notFound } from '../errors/index.js';
import type { Parts } from './parts.js';
import { networkPlan, type NetworkEndpoint } from './spec.js';
import type { Container } from './types.js';

export interface ConnectOptions {
  aliases?: string[];
  ip?: string;
}

/** The container's networks by name, as it lists them (none listed: the default network). */
async function attachedTo(parts: Parts, c: Container, verb: string): Promise<string[]> {
  const plan = networkPlan(c.config);
  if (plan.kind !== 'networks') {
    const how = plan.kind === 'join' ? `shares the network namespace of ${c.config.joinedContainer ? `container ${c.config.joinedContainer.slice(0, 12)}` : 'another process'}` : `uses --network ${plan.kind}`;
    throw failedPrecondition(`container ${c.name} ${how}: it cannot be ${verb} a network`);
  }
  if (c.state === 'creating' || c.state === 'removing') throw failedPrecondition(`container ${c.name} is ${c.state}: try again`);
  if (plan.networks.length > 0 || c.config.network?.networksExact) return plan.networks;
  return [(await parts.network()).defaultNetworkName];
}

/** Whether the container's netns is up now (connect and disconnect act on it). */
const live = (c: Container) => c.state === 'running' || c.state === 'created';

export async function connectNetwork(parts: Parts, c: Container, network: string, o: ConnectOptions = {}): Promise<void> {
  const networks = await attachedTo(parts, c, 'connected to');
  const net = await parts.network();
  await net.network(network).catch((e: unknown) => {
    throw (e as { code?: string }).code === 'NotFound' ? notFound(`unable to find network with name or ID ${network}: network not found`) : e;
  });
  if (networks.includes(network)) throw alreadyExists(`container ${c.id} is already connected to network "${network}"`);
  const endpoint: NetworkEndpoint = { ...(o.aliases?.length ? { aliases: o.aliases } : {}), ...(o.ip ? { ip: o.ip } : {}) };
  if (live(c)) await parts.records.setNetwork(c.id, await net.connect(c.id, network, { ip: o.ip, name: c.name, aliases: [...(c.config.network?.aliases ?? []), ...(o.aliases ?? [])] }));
  const spec = c.config.network ?? {};
  const perNetwork = { ...spec.perNetwork, [network]: endpoint };
  await parts.records.setConfig(c.id, { ...c.config, network: { ...spec, networks: [...networks, network], networksExact: true, perNetwork } });
}

export async function disconnectNetwork(parts: Parts, c: Container, network: string, o: { force?: boolean } = {}): Promise<void> {
  const networks = await attachedTo(parts, c, 'disconnected from');
  if (!networks.includes(network)) throw notFound(`container ${c.name} is not connected to network ${network}`);
  const net = await parts.network();
  if (live(c)) await parts.records.setNetwork(c.id, (await net.disconnect(c.id, network, { force: o.force })) ?? null);
  const spec = c.config.network ?? {};
  const { [network]: _gone, ...perNetwork } = spec.perNetwork ?? {};
  await parts.records.setConfig(c.id, { ...c.config, network: { ...spec, networks: networks.filter((n) => n !== network), networksExact: true, perNetwork } });
}
