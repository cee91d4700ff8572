// Every top-level command, in the order `berth --help` lists them, and the groups made of
// several command files.
import type { Command } from './command.js';
import { cleanupCommand, lifecycleCommands } from './container.js';
import { containerGroupOnly, containerTools } from './container-tools.js';
import { daemonCommand } from './daemon.js';
import { copyCommands } from './copy.js';
import { imageCommands } from './image.js';
import { networkCommands } from './network.js';
import { pauseCommands } from './pause.js';
import { registryCommands } from './registry.js';
import { stdioCommands } from './run.js';
import { eventsCommand } from './events.js';
import { statsCommand } from './stats.js';
import { systemCommands } from './system.js';
import { volumeCommand } from './volume.js';
import { healthcheckCommand, timerCheckCommand } from './healthcheck.js';

/** inspect with --type container fixed. */
function containerInspect(inspect: Command): Command {
  return {
    ...inspect,
    summary: 'Display the configuration of one or more containers',
    flags: inspect.flags.filter((f) => f.name !== 'type'),
    run: (ctx, f, args) => inspect.run!(ctx, { ...f, type: 'container' }, args),
  };
}

/** `image pull` and `image push` beside the image group's own commands. */
function withRegistryCommands(c: Command): Command {
  if (c.name !== 'image') return c;
  return { ...c, subcommands: [...(c.subcommands ?? []), ...registryCommands.filter((r) => r.name === 'pull' || r.name === 'push')] };
}

const containerGroup: Command = {
  name: 'container',
  usage: 'container COMMAND',
  summary: 'Manage containers',
  flags: [],
  // `container inspect` inspects containers only: an image of that name is no such container.
  subcommands: [
    ...stdioCommands, ...lifecycleCommands.map((c) => (c.name === 'inspect' ? containerInspect(c) : c)), statsCommand, ...containerTools, ...copyCommands, ...pauseCommands, ...containerGroupOnly,
    { ...cleanupCommand, name: 'cleanup' },
  ],
};

export const commands: Command[] = [
  ...stdioCommands, ...lifecycleCommands, statsCommand, ...containerTools, ...copyCommands, ...pauseCommands, containerGroup, cleanupCommand, healthcheckCommand, timerCheckCommand,
  ...imageCommands.map(withRegistryCommands), ...networkCommands, volumeCommand, ...registryCommands, ...systemCommands, eventsCommand, daemonCommand,
];
