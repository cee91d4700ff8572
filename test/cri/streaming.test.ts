// The streaming server behind CRI Exec and Attach, driven like kubectl through the kubelet:
// the Kubernetes JavaScript client's WebSocket handlers (v5 protocol) pointed straight at the
// URL berthd returns, and a client written here from the protocol facts for v4 and base64.
// Exit codes as Status on the error channel, stdin and its close, stderr apart, a TTY
// resized, attach and detach, a container that exits during the session, tokens used once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { Attach, Exec, KubeConfig } from '@kubernetes/client-node';
import WebSocket from 'ws';
import { newInstance } from '../helpers/index.js';
import { berthOnly, busyboxImage, peerDiffers, startBerthd, UNTYPED, type Berthd } from './berthd.js';
import { grpcError, Status } from './client.js';
import { sandboxConfig } from './sandbox.js';
import { handlerFor } from './ws-handler.js';

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Setup {
  d: Berthd;
  pod: string;
  podConfig: any;
  image: string;
}

async function setup(t: any, name: string): Promise<Setup> {
  const inst = await newInstance();
  const d = await startBerthd(t, inst);
  // After berthd's own cleanup, which removes the pods left (hooks run in the order given).
  t.after(() => inst.cleanup());
  const image = await busyboxImage(d, inst);
  const logDir = join(inst.base, 'pod-logs');
  mkdirSync(logDir, { recursive: true });
  const podConfig = sandboxConfig(name, { log_directory: logDir });
  const { pod_sandbox_id: pod } = await d.cri.runtime('RunPodSandbox', { config: podConfig });
  return { d, pod, podConfig, image };
}

async function runContainer(s: Setup, name: string, config: object): Promise<string> {
  const { container_id: id } = await s.d.cri.runtime('CreateContainer', {
    pod_sandbox_id: s.pod,
    sandbox_config: s.podConfig,
    config: { metadata: { name, attempt: 0 }, image: { image: s.image }, ...config },
  });
  await s.d.cri.runtime('StartContainer', { container_id: id });
  return id;
}

const state = async (d: Berthd, id: string) => (await d.cri.runtime('ContainerStatus', { container_id: id })).status.state;
const logPathOf = async (d: Berthd, id: string) => (await d.cri.runtime('ContainerStatus', { container_id: id })).status.log_path as string;

/** A stdout the client sees as a terminal of rows × columns (it sends its size, and each 'resize'). */
function terminal(rows: number, columns: number): PassThrough & { rows: number; columns: number } {
  return Object.assign(new PassThrough(), { rows, columns });
}

function collect(stream: NodeJS.ReadableStream): { text(): string } {
  let s = '';
  stream.on('data', (d: Buffer) => (s += d.toString()));
  return { text: () => s };
}


/** kubectl exec through the JavaScript client: the output, the Status, once the connection closed. */
async function kubectlExec(
  s: Setup,
  id: string,
  cmd: string[],
  o: { stdin?: NodeJS.ReadableStream; tty?: boolean; stdout?: PassThrough; stderr?: boolean } = {},
): Promise<{ stdout: string; stderr: string; status: any }> {
  const { url } = await s.d.cri.runtime('Exec', { container_id: id, cmd, tty: !!o.tty, stdin: !!o.stdin, stdout: true, stderr: o.stderr !== false && !o.tty });
  const stdout = o.stdout ?? new PassThrough();
  const stderr = new PassThrough();
  const out = collect(stdout);
  const err = collect(stderr);
  let status: any;
  const ws = await new Exec(new KubeConfig(), handlerFor(url)).exec('ns', 'pod', 'c', cmd, stdout, o.stderr !== false && !o.tty ? stderr : null, (o.stdin ?? null) as any, !!o.tty, (st) => (status = st));
  await new Promise((resolve) => (ws as any).on('close', resolve));
  return { stdout: out.text(), stderr: err.text(), status };
}

test('exec over WebSocket with the Kubernetes client: output, stderr apart, exit codes as Status, stdin and its close, a TTY resized', async (t) => {
  const s = await setup(t, 'wsexec');
  const id = await runContainer(s, 'sleeper', { command: ['sleep', '3600'] });

  const ok = await kubectlExec(s, id, ['sh', '-c', 'echo out; echo err >&2']);
  assert.equal(ok.stdout, 'out\n');
  assert.equal(ok.stderr, 'err\n');
  assert.deepEqual(ok.status, { metadata: {}, status: 'Success' });

  for (const [cmd, code] of [[['sh', '-c', 'exit 1'], 1], [['sh', '-c', 'kill -9 $$'], 137]] as const) {
    const r = await kubectlExec(s, id, [...cmd]);
    assert.equal(r.status.status, 'Failure');
    assert.equal(r.status.reason, 'NonZeroExitCode');
    assert.deepEqual(r.status.details.causes, [{ reason: 'ExitCode', message: String(code) }]);
    assert.match(r.status.message, new RegExp(`exit code ${code}$`));
  }

  // stdin reaches the process; closing it (v5's close message) is its EOF: cat ends by itself.
  const stdin = new PassThrough();
  const cat = kubectlExec(s, id, ['sh', '-c', 'cat; echo eof'], { stdin });
  stdin.write('hello through stdin\n');
  setTimeout(() => stdin.end(), 300);
  const r = await cat;
  assert.equal(r.stdout, peerDiffers('hello through stdin\neof\n', 'hello through stdin\n', "containerd 1.6 predates v5.channel.k8s.io, which carries stdin's close"));
  // On v4 the client can only end the whole session: no Status comes back.
  if (berthOnly('containerd speaks v4 at most')) assert.equal(r.status.status, 'Success');

  // A TTY: the client's size first, then a resize, both seen by stty; output on one stream.
  const tty = terminal(33, 111);
  const input = new PassThrough();
  const session = kubectlExec(s, id, ['sh', '-c', 'sleep 0.5; stty size; read x; stty size; echo tty-err >&2'], { stdin: input, tty: true, stdout: tty });
  const seen = collect(tty);
  await until('the first size', () => seen.text().includes('33 111'));
  Object.assign(tty, { rows: 40, columns: 120 });
  tty.emit('resize');
  await new Promise((r) => setTimeout(r, 300));
  input.write('\n');
  const r2 = await session;
  assert.match(r2.stdout, /33 111\r?\n[\s\S]*40 120\r?\n/);
  assert.match(r2.stdout, /tty-err/, 'a terminal has one output: stderr comes on stdout');
  assert.equal(r2.status.status, 'Success');

  // A background child that keeps stdout open does not hold the session past the exit.
  const t0 = Date.now();
  const bg = await kubectlExec(s, id, ['sh', '-c', 'sleep 60 & echo started']);
  assert.equal(bg.stdout, 'started\n');
  assert.equal(bg.status.status, 'Success');
  if (berthOnly('containerd 1.6 ends the session when every writer of its output is gone')) assert.ok(Date.now() - t0 < 15_000, `ended ${Date.now() - t0} ms after the start, not with the child`);
  assert.equal(await state(s.d, id), 'CONTAINER_RUNNING');
});

/** A raw WebSocket client on one subprotocol: the messages it got, by channel, until the close. */
async function rawSession(url: string, protocol: string, send: (ws: WebSocket) => void): Promise<{ channels: Map<number, Buffer[]>; first: number; code: number }> {
  const ws = new WebSocket(url.replace(/^http/, 'ws'), [protocol]);
  const channels = new Map<number, Buffer[]>();
  let first = -1;
  ws.on('message', (m: Buffer, binary: boolean) => {
    let channel: number;
    let data: Buffer;
    if (binary) [channel, data] = [m[0], m.subarray(1)];
    else [channel, data] = [m.toString().charCodeAt(0) - 48, Buffer.from(m.toString().slice(1), 'base64')];
    if (first < 0) first = channel;
    channels.set(channel, [...(channels.get(channel) ?? []), data]);
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  assert.equal(ws.protocol, protocol);
  send(ws);
  const code = await new Promise<number>((resolve) => ws.once('close', resolve));
  return { channels, first, code };
}

const text = (bufs: Buffer[] | undefined) => Buffer.concat(bufs ?? []).toString();

test('exec over the v4 binary and base64 channel protocols, written from the protocol: framing, Status JSON, refused and reused tokens', async (t) => {
  const s = await setup(t, 'wsraw');
  const id = await runContainer(s, 'sleeper', { command: ['sleep', '3600'] });
  const exec = async (cmd: string[], stdin = false) => (await s.d.cri.runtime('Exec', { container_id: id, cmd, stdin, stdout: true, stderr: true })).url as string;

  const url = await exec(['sh', '-c', 'read x; echo "got $x"; echo oops >&2; exit 4'], true);
  assert.match(url, peerDiffers(/^http:\/\/127\.0\.0\.1:\d+\/exec\/[A-Za-z0-9_-]{16,}$/, /^http:\/\/127\.0\.0\.1:\d+\/exec\/\w{8}$/, "containerd's tokens are 8 characters"), 'a URL with a host and a token');
  const v4 = await rawSession(url, 'v4.channel.k8s.io', (ws) => ws.send(Buffer.from('\x00line\n', 'latin1')));
  assert.equal(v4.first, 1, 'the first message is the empty one on stdout: connected');
  assert.equal(text(v4.channels.get(1)), 'got line\n');
  assert.equal(text(v4.channels.get(2)), 'oops\n');
  const st = JSON.parse(text(v4.channels.get(3)));
  assert.equal(st.reason, 'NonZeroExitCode');
  assert.deepEqual(st.details.causes, [{ reason: 'ExitCode', message: '4' }]);
  assert.equal(v4.code, 1000);

  const b64 = await rawSession(await exec(['echo', 'base64 works']), 'v4.base64.channel.k8s.io', () => {});
  assert.equal(text(b64.channels.get(1)), 'base64 works\n');
  assert.deepEqual(JSON.parse(text(b64.channels.get(3))), { metadata: {}, status: 'Success' });

  // A used token, an unknown one, a protocol nobody serves, a plain GET: refused with a reason.
  const refused = async (u: string, protocols: string[] = ['v4.channel.k8s.io']) =>
    new Promise<number>((resolve) => {
      const ws = new WebSocket(u.replace(/^http/, 'ws'), protocols);
      ws.on('unexpected-response', (_req, res) => {
        resolve(res.statusCode ?? 0);
        ws.terminate();
      });
      ws.on('open', () => resolve(101));
      ws.on('error', () => undefined);
    });
  assert.equal(await refused(url), 404, 'a token is used once');
  assert.equal(await refused(url.replace(/[^/]+$/, 'AAAAAAAAAAAAAAAAAAAAAA')), 404);
  const fresh = await exec(['true']);
  assert.equal(await refused(fresh, ['v99.channel.k8s.io']), peerDiffers(400, 403, "containerd's stream server answers an unknown protocol 403"));
  assert.equal(await refused(fresh.replace('/exec/', '/attach/')), 404, 'an exec token is not an attach token');
  const plain = await fetch(fresh);
  assert.equal(plain.status, peerDiffers(400, 404, 'containerd spent the token on the refused v99 request'));

  // Bad requests are refused at the RPC.
  const code = async (req: object) => (await grpcError(s.d.cri.runtime('Exec', req))).code;
  assert.equal(await code({ container_id: id, cmd: ['true'], tty: true, stderr: true, stdout: true }), Status.INVALID_ARGUMENT);
  assert.equal(await code({ container_id: id, cmd: ['true'] }), Status.INVALID_ARGUMENT, 'no stream asked for');
  if (berthOnly('containerd hands out a URL for an empty command')) assert.equal(await code({ container_id: id, cmd: [], stdout: true }), Status.INVALID_ARGUMENT);
  assert.equal(await code({ container_id: 'f'.repeat(64), cmd: ['true'], stdout: true }), Status.NOT_FOUND);
  if (berthOnly('containerd hands out a URL for any port')) assert.equal((await grpcError(s.d.cri.runtime('PortForward', { pod_sandbox_id: s.pod, port: [70000] }))).code, Status.INVALID_ARGUMENT);
  assert.equal((await grpcError(s.d.cri.runtime('PortForward', { pod_sandbox_id: 'f'.repeat(64), port: [80] }))).code, Status.NOT_FOUND);
});

test('attach with the Kubernetes client: stdin in, output out, detach leaves the container running; a container that exits ends the session', async (t) => {
  const s = await setup(t, 'wsattach');
  const id = await runContainer(s, 'catter', { command: ['sh', '-c', 'while read l; do echo "echo:$l"; done'], stdin: true, stdin_once: false });
  const logOf = async (cid: string) => {
    const p = await logPathOf(s.d, cid);
    return p && existsSync(p) ? readFileSync(p, 'utf8') : '';
  };
  const attach = async (cid: string, stdin: PassThrough) => {
    const { url } = await s.d.cri.runtime('Attach', { container_id: cid, stdin: true, stdout: true, stderr: true });
    const stdout = new PassThrough();
    const out = collect(stdout);
    const ws = await new Attach(new KubeConfig(), handlerFor(url)).attach('ns', 'pod', 'c', stdout, new PassThrough(), stdin, false);
    const closed = new Promise((resolve) => (ws as any).on('close', resolve));
    return { ws, out, closed };
  };
  const first = await attach(id, new PassThrough());
  const in1 = new PassThrough();
  const a = await attach(id, in1);
  in1.write('one\n');
  await until('the echo', () => a.out.text().includes('echo:one'));
  (a.ws as any).close();
  await a.closed;
  (first.ws as any).close();
  await first.closed;
  assert.equal(await state(s.d, id), 'CONTAINER_RUNNING', 'detaching leaves it running');
  // A second session after the first detached still gets through (stdin stays open).
  const in2 = new PassThrough();
  const b = await attach(id, in2);
  in2.write('two\n');
  await until('the second echo', () => b.out.text().includes('echo:two'));
  (b.ws as any).close();
  await b.closed;

  // stdin_once: the first session's end closes the container's stdin (cat sees EOF).
  const closer = await runContainer(s, 'closer', { command: ['sh', '-c', 'cat; echo stdin-closed; sleep 600'], stdin: true, stdin_once: true, log_path: 'closer.log' });
  const in4 = new PassThrough();
  const d4 = await attach(closer, in4);
  in4.write('typed\n');
  await until('the typed line', () => d4.out.text().includes('typed'));
  (d4.ws as any).close();
  await d4.closed;
  const d5 = await attach(closer, new PassThrough());
  await until('the EOF', async () => (d5.out.text().includes('stdin-closed') || (await logOf(closer)).includes('stdin-closed') ? true : undefined));
  (d5.ws as any).close();
  await d5.closed;
  assert.equal(await state(s.d, closer), 'CONTAINER_RUNNING');

  const once = await runContainer(s, 'oneshot', { command: ['sh', '-c', 'read l; echo "bye $l"'], stdin: true, stdin_once: true });
  const in3 = new PassThrough();
  const c = await attach(once, in3);
  in3.write('now\n');
  await c.closed;
  assert.match(c.out.text(), /bye now/);
  await until('the exit', async () => ((await state(s.d, once)) === 'CONTAINER_EXITED' ? true : undefined));
  assert.equal((await grpcError(s.d.cri.runtime('Attach', { container_id: once, stdout: true }))).code, peerDiffers(Status.FAILED_PRECONDITION, Status.UNKNOWN, UNTYPED));
});

