// Every top-level command, in the order `berth --help` lists them, and the groups made of
// several command files. A command line loads only the file of its command: start-up time
// is a benchmarked figure, and `berth images` has no use for the container code (the
// module initialisers of everything once cost every command about a fifth of its time).
import type { Command } from './command.js';

/** A command file: the top-level names (and aliases) its commands take, and its commands. */
interface CommandFile {
  names: string[];
  load(): Promise<Command[]>;
}

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
function withRegistryCommands(c: Command, registry: Command[]): Command {
  if (c.name !== 'image') return c;
  return { ...c, subcommands: [...(c.subcommands ?? []), ...registry.filter((r) => r.name === 'pull' || r.name === 'push')] };
}

const run = async () => (await import('./run.js')).stdioCommands;
const logs = async () => [(await import('./logs.js')).logsCommand];
const lifecycle = async () => (await import('./container.js')).lifecycleCommands;
const stats = async () => [(await import('./stats.js')).statsCommand];
const containerTools = async () => (await import('./container-tools.js')).containerTools;
const copy = async () => (await import('./copy.js')).copyCommands;
const pause = async () => (await import('./pause.js')).pauseCommands;
const cleanup = async () => [(await import('./container.js')).cleanupCommand];
const registry = async () => (await import('./registry.js')).registryCommands;

async function containerGroup(): Promise<Command[]> {
  const [stdio, logsCommands, lifecycleCommands, rest, { containerGroupOnly }, [cleanupCommand]] = await Promise.all([
    run(), logs(), lifecycle(), Promise.all([stats(), containerTools(), copy(), pause()]), import('./container-tools.js'), cleanup(),
  ]);
  return [{
    name: 'container',
    usage: 'container COMMAND',
    summary: 'Manage containers',
    flags: [],
    // `container inspect` inspects containers only: an image of that name is no such container.
    subcommands: [
      ...stdio, ...logsCommands, ...lifecycleCommands.map((c) => (c.name === 'inspect' ? containerInspect(c) : c)), ...rest.flat(), ...containerGroupOnly,
      { ...cleanupCommand, name: 'cleanup' },
    ],
  }];
}

// test/cli/commands.test.ts checks each file's names against the commands it loads.
const files: CommandFile[] = [
  { names: ['run', 'create', 'start', 'attach', 'exec'], load: run },
  { names: ['logs'], load: logs },
  { names: ['ps', 'list', 'ls', 'inspect', 'init', 'stop', 'kill', 'rm', 'wait', 'rename', 'restart'], load: lifecycle },
  { names: ['stats'], load: stats },
  { names: ['top', 'diff', 'update'], load: containerTools },
  { names: ['cp', 'export', 'commit'], load: copy },
  { names: ['pause', 'unpause'], load: pause },
  { names: ['container'], load: containerGroup },
  { names: ['container-cleanup'], load: cleanup },
  {
    names: ['healthcheck', 'container-healthcheck'],
    load: async () => {
      const { healthcheckCommand, timerCheckCommand } = await import('./healthcheck.js');
      return [healthcheckCommand, timerCheckCommand];
    },
  },
  {
    names: ['images', 'import', 'load', 'save', 'rmi', 'tag', 'untag', 'history', 'image'],
    load: async () => {
      const [{ imageCommands }, registryCommands] = await Promise.all([import('./image.js'), registry()]);
      return imageCommands.map((c) => withRegistryCommands(c, registryCommands));
    },
  },
  { names: ['network', 'port'], load: async () => (await import('./network.js')).networkCommands },
  { names: ['volume'], load: async () => [(await import('./volume.js')).volumeCommand] },
  { names: ['pull', 'push', 'login', 'logout'], load: registry },
  { names: ['search'], load: async () => [(await import('./search.js')).searchCommand] },
  { names: ['version', 'info', 'system'], load: async () => (await import('./system.js')).systemCommands },
  { names: ['events'], load: async () => [(await import('./events.js')).eventsCommand] },
  { names: ['daemon'], load: async () => [(await import('./daemon.js')).daemonCommand] },
];

export function findCommand(list: Command[], name: string): Command | undefined {
  return list.find((c) => c.name === name || c.aliases?.includes(name));
}

/** The top-level command called name (or so aliased), loading only its file. */
export async function topCommand(name: string): Promise<Command | undefined> {
  const file = files.find((f) => f.names.includes(name));
  return file && findCommand(await file.load(), name);
}

/** Every top-level command, in the order of the help (each file loaded). */
export async function allCommands(): Promise<Command[]> {
  return (await Promise.all(files.map((f) => f.load()))).flat();
}

/** Each command file's names and the names its commands take, for the test that they agree. */
export async function commandFileNames(): Promise<{ declared: string[]; loaded: string[] }[]> {
  return Promise.all(files.map(async (f) => ({ declared: f.names, loaded: (await f.load()).flatMap((c) => [c.name, ...(c.aliases ?? [])]) })));
}
