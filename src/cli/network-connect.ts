// network connect and disconnect.
import type { Command } from './command.js';
import { invalidArgument } from '../errors/index.js';

const connectCommand: Command = {
  name: 'connect',
  usage: 'connect [OPTIONS] NETWORK CONTAINER',
  summary: 'Add a container to a network',
  flags: [
    { name: 'alias', type: 'strings', value: 'NAME', desc: 'Network-scoped alias for the container' },
    { name: 'ip', type: 'string', value: 'IP', desc: 'IPv4 address for the container on this network' },
  ],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, f, [network, ref]) {
    const ip = f.ip as string | undefined;
    if (ip !== undefined && !/^(\d{1,3})(\.\d{1,3}){3}$/.test(ip)) throw invalidArgument(`invalid IP address: ${ip}`);
    await (await ctx.containers()).connect(ref, network, { aliases: f.alias as string[] | undefined, ip });
  },
};

const disconnectCommand: Command = {
  name: 'disconnect',
  usage: 'disconnect [OPTIONS] NETWORK CONTAINER',
  summary: 'Disconnect a container from a network',
  flags: [{ name: 'force', short: 'f', type: 'bool', desc: 'Disconnect even when the network teardown fails (it is retried later)' }],
  minArgs: 2,
  maxArgs: 2,
  async run(ctx, f, [network, ref]) {
    await (await ctx.containers()).disconnect(ref, network, { force: !!f.force });
  },
};

export const networkConnectCommands: Command[] = [connectCommand, disconnectCommand];
