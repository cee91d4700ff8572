// kubectl exec, attach and port-forward against berthd, through a minimal API server that
// proxies to the streaming URLs as the kubelet does: kubectl's own SPDY client (and, for a
// kubectl new enough, its WebSocket v5 one). Exit codes, stderr apart, stdin and its end,
// a TTY with the terminal's size, two concurrent connections through one port-forward.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { newInstance, type Instance } from '../helpers/index.js';
import { startApiServer } from './apiserver.js';
import { startBerthd, type Berthd } from './berthd.js';
import { sandboxConfig } from './sandbox.js';

function kubectlPath(): string | undefined {
  try {
    return execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim() || undefined;
  } catch {
    return undefined;
  }
}
const KUBECTL = kubectlPath();

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function kubectl(kubeconfig: string, args: string[], o: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const c = spawn(KUBECTL!, ['--kubeconfig', kubeconfig, ...args], { env: { ...process.env, ...o.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.on('close', (code) => resolve({ code, stdout, stderr }));
    if (o.input !== undefined) c.stdin.end(o.input);
  });
}

async function createStarted(d: Berthd, pod: string, podConfig: object, image: string, name: string, config: object): Promise<string> {
  const { container_id: id } = await d.cri.runtime('CreateContainer', {
    pod_sandbox_id: pod,
    sandbox_config: podConfig,
    config: { metadata: { name, attempt: 0 }, image: { image }, ...config },
  });
  await d.cri.runtime('StartContainer', { container_id: id });
  return id;
}

function httpGet(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    request({ host: '127.0.0.1', port, path: '/index.html' }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    })
      .on('error', reject)
      .end();
  });
}

test('kubectl exec, attach and port-forward over SPDY (and WebSocket) through an API server proxy', { skip: KUBECTL ? false : 'kubectl is not installed (scripts/install-deps.sh installs kubernetes-client)' }, async (t) => {
  const inst: Instance = await newInstance();
  const image = await inst.importBusybox();
  const d = await startBerthd(t, inst);
  // After berthd's own cleanup, which removes the pods left (hooks run in the order given).
  t.after(() => inst.cleanup());
  const podConfig = sandboxConfig('kubectl');
  const { pod_sandbox_id: pod } = await d.cri.runtime('RunPodSandbox', { config: podConfig });
  const www = join(inst.base, 'www');
  mkdirSync(www);
  writeFileSync(join(www, 'index.html'), 'served from the pod\n');
  const sleeper = await createStarted(d, pod, podConfig, image, 'sleeper', { command: ['sleep', '3600'] });
  const web = await createStarted(d, pod, podConfig, image, 'web', {
    command: ['httpd', '-f', '-p', '8080', '-h', '/www'],
    mounts: [{ container_path: '/www', host_path: www, readonly: true }],
  });
  const echo = await createStarted(d, pod, podConfig, image, 'echo', { command: ['sh', '-c', 'while read l; do echo "echo:$l"; done'], stdin: true, stdin_once: false });

  const api = await startApiServer(d);
  t.after(() => api.close());
  api.pods.set('sleeper', { podId: pod, containerId: sleeper });
  api.pods.set('web', { podId: pod, containerId: web });
  api.pods.set('echo', { podId: pod, containerId: echo });
  const kubeconfig = join(inst.base, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'berthd', cluster: { server: api.url } }],
      users: [{ name: 'u', user: {} }],
      contexts: [{ name: 'c', context: { cluster: 'berthd', user: 'u', namespace: 'default' } }],
      'current-context': 'c',
    }),
  );

  // SPDY always; WebSocket too where kubectl uses it by default (1.30+ for exec).
  const transports: [string, NodeJS.ProcessEnv][] = [
    ['SPDY', { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: 'false', KUBECTL_PORT_FORWARD_WEBSOCKETS: 'false' }],
    ['default', {}],
  ];
  for (const [how, env] of transports) {
    const r = await kubectl(kubeconfig, ['exec', 'sleeper', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3'], { env });
    assert.equal(r.stdout, 'out\n', `${how}: ${r.stderr}`);
    assert.match(r.stderr, /^err\n/, how);
    assert.equal(r.code, 3, `${how}: kubectl exits with the command's code`);
    const ok = await kubectl(kubeconfig, ['exec', 'sleeper', '--', 'true'], { env });
    assert.equal(ok.code, 0, `${how}: ${ok.stderr}`);
    const killed = await kubectl(kubeconfig, ['exec', 'sleeper', '--', 'sh', '-c', 'kill -9 $$'], { env });
    assert.equal(killed.code, 137, `${how}: ${killed.stderr}`);
    // stdin, and its end reaching cat.
    const cat = await kubectl(kubeconfig, ['exec', '-i', 'sleeper', '--', 'sh', '-c', 'cat; echo done'], { input: 'piped in\n', env });
    assert.equal(cat.stdout, 'piped in\ndone\n', `${how}: ${cat.stderr}`);
    assert.equal(cat.code, 0);

    // A real terminal: kubectl sends its size, stty in the container sees it.
    const tty = await new Promise<string>((resolve) => {
      const c = spawn('script', ['-qec', `stty rows 33 cols 111; ${KUBECTL} --kubeconfig ${kubeconfig} exec -it sleeper -- sh -c 'sleep 0.5; tty; stty size'`, '/dev/null'], {
        env: { ...process.env, ...env },
        stdio: ['pipe', 'pipe', 'inherit'],
      });
      let out = '';
      c.stdout.on('data', (b) => (out += b));
      const timer = setTimeout(() => c.kill('SIGKILL'), 30_000);
      c.on('close', () => {
        clearTimeout(timer);
        resolve(out);
      });
    });
    assert.match(tty, /\/dev\/pts\/\d+/, how);
    assert.match(tty, /33 111/, how);

    // attach: input in, output out; leaving (as ^C does) leaves the container running.
    const att = spawn(KUBECTL!, ['--kubeconfig', kubeconfig, 'attach', '-i', 'echo'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      att.stdout.on('data', (b) => {
        out += b;
        if (out.includes('echo:hello')) resolve();
      });
      att.on('close', (code) => reject(new Error(`${how}: kubectl attach exited ${code} before the echo`)));
      att.stdin.write('hello\n');
    });
    att.kill();

    // port-forward: a random local port, two connections at once.
    const pf = spawn(KUBECTL!, ['--kubeconfig', kubeconfig, 'port-forward', 'web', ':8080'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const local = await new Promise<number>((resolve, reject) => {
      let out = '';
      pf.stdout.on('data', (b) => {
        out += b;
        const m = /Forwarding from 127\.0\.0\.1:(\d+) -> 8080/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      pf.on('close', (code) => reject(new Error(`port-forward exited ${code}`)));
    });
    const bodies = await Promise.all([httpGet(local), httpGet(local)]);
    assert.deepEqual(bodies, ['served from the pod\n', 'served from the pod\n'], how);
    assert.equal(await httpGet(local), 'served from the pod\n', `${how}: the session outlives its connections`);
    pf.kill();
  }
  const st = await d.cri.runtime('ContainerStatus', { container_id: echo });
  assert.equal(st.status.state, 'CONTAINER_RUNNING');
});
