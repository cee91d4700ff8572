// network ls|create|inspect|rm, and port.
import type { Command } from './command.js';
import type { Engine } from '../engine/index.js';
import { formatFlag } from './command.js';
import { printList, renderAll, table, templateMap } from './format.js';
import { invalidArgument } from '../errors/index.js';
import { networkConfDir } from '../config/index.js';
import { confirm } from './prompt.js';
import { networkConnectCommands } from './network-connect.js';
import { writeOut } from './stdout.js';

export async function networkLib(ctx: Engine) {
  const lib = await import('../network/index.js');
  const { network } = await ctx.config();
  const defaults = { bridge: network.defaultBridge, subnet: network.defaultSubnet, ipamDataDir: ctx.paths.cniNetworks };
  return { lib, confDir: networkConfDir(network), defaults };
}

/** The object with each field also under its capitalized name, left out of JSON (non-enumerable). */
function withTemplateNames<T extends object>(o: T): T {
  for (const [k, v] of Object.entries(o)) Object.defineProperty(o, k[0]!.toUpperCase() + k.slice(1), { value: v, enumerable: false });
  return o;
}

const lsCommand: Command = {
  name: 'ls',
  aliases: ['list'],
  usage: 'ls [OPTIONS]',
  summary: 'List networks',
  flags: [{ name: 'quiet', short: 'q', type: 'bool', desc: 'Only display network names' }, formatFlag],
  maxArgs: 0,
  async run(ctx, f) {
    const { lib, confDir, defaults } = await networkLib(ctx);
    await lib.ensureDefaultNetwork(confDir, defaults);
    const { networks, invalid } = await lib.listNetworks(confDir);
    for (const bad of invalid) process.stderr.write(`berth: ignoring ${bad.file}: ${bad.error}\n`);
    if (f.quiet) return void writeOut(networks.map((n) => n.name + '\n').join(''));
    await printList(
      networks,
      f.format as string | undefined,
      (items) =>
        table(
          ['NAME', 'DRIVER', 'BRIDGE', 'SUBNET', 'GATEWAY', 'INTERNAL'],
          items.map((n) => [n.name, n.driver, n.bridge ?? '', n.subnets.map((x) => x.subnet).join(','), n.subnets.map((x) => x.gateway ?? '').join(','), String(n.internal)]),
        ),
      // Optional fields stay fields (undefined, left out of JSON) so templates can name them;
      // templates also get the capitalized names podman's and docker's take ({{.Name}}).
      (n) => Object.defineProperty(withTemplateNames({ ...n, file: n.file, bridge: n.bridge }), 'DNSEnabled', { value: n.dnsEnabled, enumerable: false }),
      { type: 'network', headers: { ID: 'NETWORK ID' } },
    );
  },
};

const createCommand: Command = {
  name: 'create',
  usage: 'create [OPTIONS] NAME',
  summary: 'Create a bridge network',
  flags: [
    { name: 'subnet', type: 'string', value: 'CIDR', desc: 'Subnet, e.g. 10.100.5.0/24 (default: a free /24 in 10.100.0.0/16)' },
    { name: 'gateway', type: 'string', value: 'IP', desc: 'Gateway of the subnet (default: its first address)' },
    { name: 'internal', type: 'bool', desc: 'No outside access: no masquerading, no default route' },
    { name: 'disable-dns', type: 'bool', desc: 'Containers on the network do not resolve each other by name' },
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, f, args) {
    const { lib, confDir, defaults } = await networkLib(ctx);
    await lib.ensureDefaultNetwork(confDir, defaults);
    const info = await lib.createNetwork(confDir, {
      name: args[0],
      subnet: f.subnet as string | undefined,
      gateway: f.gateway as string | undefined,
      internal: !!f.internal,
      dns: !f['disable-dns'],
      ipamDataDir: defaults.ipamDataDir,
      defaultBridge: defaults.bridge,
    });
    writeOut(info.name + '\n');
  },
};

const inspectCommand: Command = {
  name: 'inspect',
  usage: 'inspect [OPTIONS] NETWORK [NETWORK...]',
  summary: 'Display detailed information on networks',
  flags: [{ name: 'format', short: 'f', type: 'string', value: 'FORMAT', desc: 'Format the output using a Go-style template' }],
  minArgs: 1,
  async run(ctx, f, args) {
    const { lib, confDir, defaults } = await networkLib(ctx);
    await lib.ensureDefaultNetwork(confDir, defaults);
    const views = [];
    for (const name of args) {
      const { info, config } = await lib.inspectNetwork(confDir, name);
      const view = { ...info, file: info.file, bridge: info.bridge, Containers: await (await ctx.network()).containersOn(name), Config: templateMap(config, { deep: true }) };
      // podman's template name for it (JSON keeps dnsEnabled).
      views.push(Object.defineProperty(view, 'DNSEnabled', { value: info.dnsEnabled, enumerable: false }));
    }
    const format = f.format as string | undefined;
    if (format) writeOut(await renderAll(format, views, 'network'));
    else writeOut(JSON.stringify(views, null, 4) + '\n');
  },
};

const rmCommand: Command = {
  name: 'rm',
  aliases: ['remove'],
  usage: 'rm NETWORK [NETWORK...]',
  summary: 'Remove networks',
  flags: [],
  minArgs: 1,
  async run(ctx, _f, args) {
    const { lib, confDir } = await networkLib(ctx);
    const net = await ctx.network();
    if (args.includes(net.defaultNetworkName)) throw invalidArgument(`the default network "${net.defaultNetworkName}" cannot be removed`);
    for (const name of args) {
      await lib.removeNetwork(confDir, name, await net.containersOn(name), net.dnsDir);
      writeOut(name + '\n');
    }
  },
};

const existsCommand: Command = {
  name: 'exists',
  usage: 'exists NETWORK',
  summary: 'Check if a network exists (exit 0) or not (exit 1)',
  flags: [],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, _f, [name]) {
    const { lib, confDir, defaults } = await networkLib(ctx);
    if (name === (await ctx.network()).defaultNetworkName) await lib.ensureDefaultNetwork(confDir, defaults);
    return (await lib.listNetworks(confDir)).networks.some((n) => n.name === name) ? 0 : 1;
  },
};

const pruneCommand: Command = {
  name: 'prune',
  usage: 'prune [OPTIONS]',
  summary: 'Remove the networks no container uses',
  flags: [{ name: 'force', short: 'f', type: 'bool', desc: 'Do not prompt for confirmation' }],
  maxArgs: 0,
  async run(ctx, f) {
    if (!f.force && !(await confirm('WARNING! This will remove all networks not used by at least one container.\nAre you sure you want to continue?'))) return 0;
    const { lib, confDir } = await networkLib(ctx);
    const net = await ctx.network();
    // In use: attached now, or named by a container that may start again.
    const named = new Set((await (await ctx.containers()).list({ all: true })).flatMap((c) => c.config.network?.networks ?? []));
    for (const n of (await lib.listNetworks(confDir)).networks) {
      if (n.name === net.defaultNetworkName || named.has(n.name)) continue;
      const users = await net.containersOn(n.name);
      if (users.length > 0) continue;
      await lib.removeNetwork(confDir, n.name, users, net.dnsDir);
      writeOut(n.name + '\n');
    }
  },
};

const networkGroup: Command = {
  name: 'network',
  usage: 'network COMMAND',
  summary: 'Manage networks',
  flags: [],
  subcommands: [lsCommand, createCommand, inspectCommand, rmCommand, existsCommand, pruneCommand, ...networkConnectCommands],
};

const portCommand: Command = {
  name: 'port',
  usage: 'port CONTAINER [PRIVATE_PORT[/PROTO]]',
  summary: 'List port mappings of a container',
  flags: [],
  minArgs: 1,
  maxArgs: 2,
  async run(ctx, _f, args) {
    const c = await (await ctx.containers()).get(args[0]);
    let mappings = c.network?.portMappings ?? [];
    if (args[1]) {
      const [port, proto = 'tcp'] = args[1].split('/');
      mappings = mappings.filter((m) => String(m.containerPort) === port && m.protocol === proto);
      if (mappings.length === 0) throw invalidArgument(`no public port '${args[1]}' published for ${c.name}`);
    }
    const host = (ip: string) => (ip.includes(':') ? `[${ip}]` : ip || '0.0.0.0');
    for (const m of mappings)
      writeOut(args[1] ? `${host(m.hostIP)}:${m.hostPort}\n` : `${m.containerPort}/${m.protocol} -> ${host(m.hostIP)}:${m.hostPort}\n`);
  },
};

export const networkCommands: Command[] = [networkGroup, portCommand];
