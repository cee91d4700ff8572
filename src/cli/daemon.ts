// `berth daemon`: runs berthd in this process. The daemon is its own bundle
// (build/berthd.cjs), loaded only here, so no other command loads gRPC.
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { findInstalled } from '../config/index.js';
import type { Command } from './command.js';

export const daemonCommand: Command = {
  name: 'daemon',
  usage: 'daemon [OPTIONS]',
  summary: 'Run berthd, the Kubernetes CRI daemon (see berth daemon --help)',
  flags: [],
  stopAfter: 0, // every flag is berthd's
  async run(engine, _flags, args) {
    const { runDaemon } = createRequire(import.meta.url)(findInstalled(join('build', 'berthd.cjs'))) as { runDaemon(argv: string[], prog?: string): Promise<number> };
    const { paths, runtime } = await engine.config();
    return runDaemon(['--root', paths.root, '--runroot', paths.runRoot, '--config-dir', paths.configDir, '--runtime', runtime.path, ...args], 'berth daemon');
  },
};
