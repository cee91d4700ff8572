// berthd keeps the next exec's monitor ready per container (conmon started, connected,
// waiting for the process spec): execs through it behave as any other (output, exit code,
// timeout, several at once), one at most waits per container, and it goes with its
// container, with berthd's stop and with berthd killed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { newInstance } from '../helpers/index.js';
import { PEER, startBerthd, type Berthd } from './berthd.js';
import { grpcError, Status } from './client.js';
import { sandboxConfig } from './sandbox.js';

/** conmon processes running an exec (-e) in the container, by pid. */
function execMonitors(containerId: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // gone meanwhile
    }
    if (!args[0]?.endsWith('conmon') || !args.includes('-e')) continue;
    if (args[args.indexOf('-c') + 1] === containerId) pids.push(Number(name));
  }
  return pids;
}

async function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const execSync = async (d: Berthd, id: string, cmd: string[], timeout = 30) => {
  const r = await d.cri.runtime('ExecSync', { container_id: id, cmd, timeout });
  return { out: r.stdout.toString(), err: r.stderr.toString(), code: r.exit_code };
};

test('a prepared exec monitor per container: execs through it, and it goes with its container and with berthd', { skip: PEER && "berthd's own exec monitors" }, async (t) => {
  const inst = await newInstance(t);
  t.after(() => inst.cleanup());
  let d = await startBerthd(t, inst);
  const image = await inst.importBusybox();
  const podConfig = sandboxConfig('prepared');
  const { pod_sandbox_id: pod } = await d.cri.runtime('RunPodSandbox', { config: podConfig });
  const run = async (name: string) => {
    const { container_id: id } = await d.cri.runtime('CreateContainer', {
      pod_sandbox_id: pod,
      sandbox_config: podConfig,
      config: { metadata: { name, attempt: 0 }, image: { image }, command: ['sleep', '3600'] },
    });
    await d.cri.runtime('StartContainer', { container_id: id });
    return id as string;
  };
  const id = await run('first');
  const execDirs = () => readdirSync(join(inst.runRoot, 'containers', id, 'exec'));
  const socketLinks = () => readdirSync(join(inst.runRoot, 's'));

  // None before the first exec; one waits after it.
  assert.deepEqual(execMonitors(id), []);
  assert.deepEqual(await execSync(d, id, ['echo', 'hi']), { out: 'hi\n', err: '', code: 0 });
  await until("a prepared monitor, the used exec's dir removed", () => execMonitors(id).length > 0 && execDirs().length === 1);
  const prepared = execDirs();

  // Through it: output, stderr, exit codes; each exec takes the waiting one and the next is made.
  assert.deepEqual(await execSync(d, id, ['sh', '-c', 'echo out; echo err >&2; exit 3']), { out: 'out\n', err: 'err\n', code: 3 });
  await until('the prepared exec used and its dir removed', () => !execDirs().includes(prepared[0]!));
  await assert.rejects(execSync(d, id, ['nosuch']), /executable file not found/);
  for (let i = 0; i < 5; i++) assert.equal((await execSync(d, id, ['echo', String(i)])).out, `${i}\n`);
  // Several at once: one takes the prepared monitor, the others start their own.
  const outs = await Promise.all([1, 2, 3, 4].map((i) => execSync(d, id, ['sh', '-c', `sleep 0.2; echo ${i}`])));
  assert.deepEqual(outs.map((o) => o.out), ['1\n', '2\n', '3\n', '4\n']);
  await until('one prepared monitor, the used exec dirs removed', () => execDirs().length === 1 && execMonitors(id).length > 0);

  // A timeout through a prepared monitor ends the call and the process.
  const t0 = Date.now();
  assert.equal((await grpcError(d.cri.runtime('ExecSync', { container_id: id, cmd: ['sleep', '41'], timeout: 1 }))).code, Status.DEADLINE_EXCEEDED);
  assert.ok(Date.now() - t0 < 10_000, 'within the timeout and a little');
  assert.equal((await execSync(d, id, ['sh', '-c', 'ps -o args | grep "^sleep 41" || true'])).out.trim(), '', 'the timed-out process is gone');

  // Removing the container ends its prepared monitor and removes its files.
  await d.cri.runtime('StopContainer', { container_id: id, timeout: 0 });
  await d.cri.runtime('RemoveContainer', { container_id: id });
  await until('no exec monitor of the removed container', () => execMonitors(id).length === 0);
  assert.ok(!existsSync(join(inst.runRoot, 'containers', id)), 'its monitor dir is gone');
  for (const link of socketLinks()) assert.ok(existsSync(join(inst.runRoot, 's', link)), `no dangling attach link: ${link}`);

  // berthd's stop ends the prepared monitors.
  const second = await run('second');
  assert.equal((await execSync(d, second, ['echo', 'x'])).out, 'x\n');
  await until('a prepared monitor', () => execMonitors(second).length > 0);
  assert.equal(await d.stop('SIGTERM'), 0);
  await until('no exec monitor after berthd stopped', () => execMonitors(second).length === 0);
  assert.deepEqual(readdirSync(join(inst.runRoot, 'containers', second, 'exec')), [], 'no exec dir left');

  // berthd killed: the monitor waiting for it ends by itself (its pipe closed); the files it
  // leaves go with the container.
  d = await startBerthd(t, inst);
  assert.equal((await execSync(d, second, ['echo', 'y'])).out, 'y\n');
  await until('a prepared monitor', () => execMonitors(second).length > 0);
  d.child.kill('SIGKILL');
  await d.exited;
  await until('no exec monitor after berthd was killed', () => execMonitors(second).length === 0);
  d = await startBerthd(t, inst);
  assert.equal((await execSync(d, second, ['echo', 'z'])).out, 'z\n', 'execs go on after the restart');
  await d.cri.runtime('StopPodSandbox', { pod_sandbox_id: pod });
  await d.cri.runtime('RemovePodSandbox', { pod_sandbox_id: pod });
  await until('no exec monitor after the pod went', () => execMonitors(second).length === 0);
  for (const link of socketLinks()) assert.ok(existsSync(join(inst.runRoot, 's', link)), `no dangling attach link: ${link}`);
});
