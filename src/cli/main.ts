// berth: the daemonless CLI. Global flags, command dispatch, and the one place errors
// become a `berth: <message>` line and an exit code.
import { parseArgs, type FlagDef } from './args.js';
import type { Command } from './command.js';
import { exitCodeFor, printError } from './errors.js';
import { allCommands, findCommand, topCommand } from './commands.js';
import type { Config } from '../config/index.js';
import { createEngine, version } from '../engine/index.js';
import { invalidArgument } from '../errors/index.js';
import { setLogFormat, setLogLevel } from '../log/index.js';
import { writeOut } from './stdout.js';

const globalFlags: FlagDef[] = [
  { name: 'root', type: 'string', value: 'DIR', desc: 'Persistent state directory (default /var/lib/berth, env BERTH_ROOT)' },
  { name: 'runroot', type: 'string', value: 'DIR', desc: 'Runtime state directory (default /run/berth, env BERTH_RUNROOT)' },
  { name: 'config-dir', type: 'string', value: 'DIR', desc: 'Directory of berth.toml (default /etc/berth, env BERTH_CONFIG_DIR)' },
  { name: 'namespace', type: 'string', value: 'NAME', desc: "Namespace of the containers and pods to work with (default \"default\"; the CRI's is k8s.io; env BERTH_NAMESPACE)" },
  { name: 'runtime', type: 'string', value: 'PATH', desc: 'OCI runtime binary (default runc, or [runtime] path in berth.toml)' },
  { name: 'log-level', type: 'string', value: 'LEVEL', desc: 'Log level: debug, info, warn, error (default warn)' },
  { name: 'log-format', type: 'string', value: 'FORMAT', desc: 'Log lines as text (default) or json' },
  { name: 'help', short: 'h', type: 'bool', desc: 'Show help' },
  { name: 'version', short: 'v', type: 'bool', desc: 'Show the version' },
];

function mainHelp(commands: Command[]): string {
  const out = ['Usage: berth [OPTIONS] COMMAND', '', 'A container manager on runc, conmon, CNI and SQLite.', '', 'Commands:'];
  for (const c of commands.filter((c) => !c.hidden)) out.push(`  ${c.name.padEnd(12)} ${c.summary}`);
  out.push('', 'Global options:', ...flagLines(globalFlags), '', "Run 'berth COMMAND --help' for more information on a command.");
  return out.join('\n');
}

function helpFor(cmd: Command, path: string): string {
  const out: string[] = [];
  out.push(`Usage: berth ${path ? path + ' ' : ''}${cmd.usage}`, '', cmd.summary);
  if (cmd.aliases?.length) out.push('', `Aliases: ${[cmd.name, ...cmd.aliases].join(', ')}`);
  if (cmd.subcommands) {
    out.push('', 'Commands:');
    for (const c of cmd.subcommands.filter((c) => !c.hidden)) out.push(`  ${c.name.padEnd(12)} ${c.summary}`);
  }
  if (cmd.flags.length) out.push('', 'Options:', ...flagLines(cmd.flags));
  return out.join('\n');
}

function flagLines(defs: FlagDef[]): string[] {
  return defs.map((d) => {
    const left = `${d.short ? `-${d.short}, ` : '    '}--${d.name}${d.value ? ' ' + d.value : d.type === 'bool' ? '' : ' ' + d.type}`;
    return `  ${left.padEnd(30)} ${d.desc}`;
  });
}

/** How conmon (an exit) and a health check timer call back into berth: this CLI (entry), with the same dirs. */
function selfCommand(entry: string, command: string, namespace?: string) {
  return ({ paths, runtime }: Config): string[] => [
    process.execPath, entry,
    '--root', paths.root, '--runroot', paths.runRoot, '--config-dir', paths.configDir, '--runtime', runtime.path,
    ...(namespace ? ['--namespace', namespace] : []),
    command,
  ];
}

/** Runs one command line (argv without node and the entry point); returns the exit status. */
export async function main(argv: string[], entry: string): Promise<number> {
  let debug = false;
  try {
    // Global flags come before the command name.
    let i = 0;
    while (i < argv.length && argv[i].startsWith('-')) {
      const def = globalFlags.find((d) => argv[i] === `--${d.name}` || argv[i].startsWith(`--${d.name}=`) || (d.short && argv[i] === `-${d.short}`));
      i += def && def.type !== 'bool' && !argv[i].includes('=') ? 2 : 1;
      if (!def) break;
    }
    const global = parseArgs(argv.slice(0, i), globalFlags);
    setLogFormat((global.flags['log-format'] as string | undefined) ?? 'text');
    if (typeof global.flags['log-level'] === 'string') {
      setLogLevel(global.flags['log-level']);
      debug = global.flags['log-level'] === 'debug';
    }
    let rest = argv.slice(i);
    // One line, as `podman --version`; the `version` command prints the block.
    if (global.flags.version && rest.length === 0) {
      writeOut(`berth version ${version}\n`);
      return 0;
    }
    if (rest.length === 0 || (rest[0] === 'help' && rest.length === 1)) {
      writeOut(mainHelp(await allCommands()) + '\n');
      return rest.length === 0 && !global.flags.help ? 125 : 0;
    }
    if (rest[0] === 'help') rest = [...rest.slice(1), '--help'];
    let cmd = await topCommand(rest[0]);
    if (!cmd) throw invalidArgument(`unknown command "${rest[0]}" for "berth"; run 'berth --help'`);
    let path = '';
    rest = rest.slice(1);
    while (cmd.subcommands && rest.length > 0 && !rest[0].startsWith('-')) {
      const sub: Command | undefined = findCommand(cmd.subcommands, rest[0]);
      if (!sub) throw invalidArgument(`unknown command "${rest[0]}" for "berth ${cmd.name}"`);
      path = path ? `${path} ${cmd.name}` : cmd.name;
      cmd = sub;
      rest = rest.slice(1);
    }
    // -h is --help unless the command gives it a meaning (run/create: --hostname, as docker).
    const helpDef: FlagDef = { name: 'help', short: cmd.flags.some((d) => d.short === 'h') ? undefined : 'h', type: 'bool', desc: 'Show help for this command' };
    const parsed = parseArgs(rest, [...cmd.flags, helpDef], cmd.stopAfter);
    if (parsed.flags.help || global.flags.help || !cmd.run) {
      writeOut(helpFor(cmd, path) + '\n');
      return cmd.run || parsed.flags.help || global.flags.help ? 0 : 125;
    }
    const full = path ? `${path} ${cmd.name}` : cmd.name;
    if (cmd.minArgs !== undefined && parsed.args.length < cmd.minArgs)
      throw invalidArgument(`"berth ${full}" requires at least ${cmd.minArgs} argument${cmd.minArgs > 1 ? 's' : ''}; usage: berth ${full.split(' ').slice(0, -1).concat(cmd.usage).join(' ')}`);
    if (cmd.maxArgs !== undefined && parsed.args.length > cmd.maxArgs)
      throw invalidArgument(`"berth ${full}" accepts at most ${cmd.maxArgs} argument${cmd.maxArgs === 1 ? '' : 's'}; usage: berth ${full.split(' ').slice(0, -1).concat(cmd.usage).join(' ')}`);
    const engine = createEngine({
      root: global.flags.root as string | undefined,
      runRoot: global.flags.runroot as string | undefined,
      configDir: global.flags['config-dir'] as string | undefined,
      runtime: global.flags.runtime as string | undefined,
      namespace: global.flags.namespace as string | undefined,
      cleanupCommand: selfCommand(entry, 'container-cleanup'),
      healthcheckCommand: selfCommand(entry, 'container-healthcheck', global.flags.namespace as string | undefined),
    });
    // The engine is not closed: closing the last database connection checkpoints the WAL
    // (an fsync on every command); SQLite recovers the WAL on the next open, so exiting is safe.
    return (await cmd.run(engine, parsed.flags, parsed.args)) ?? 0;
  } catch (e) {
    printError(e, debug);
    return exitCodeFor(e);
  }
}

// Exit as soon as the command is done: stdout/stderr writes are synchronous for files,
// pipes and terminals on Linux, and lingering handles (stdin, watchers) must not keep a
// finished command alive.
main(process.argv.slice(2), process.argv[1]).then(
  (code) => process.exit(code),
  (e) => {
    printError(e, true);
    process.exit(125);
  },
);
