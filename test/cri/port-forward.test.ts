// CRI PortForward end to end: berthd's URL driven by the Kubernetes JavaScript client's
// PortForward (WebSocket, v4 channels), into busybox httpd running in a pod's container.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { KubeConfig, PortForward } from '@kubernetes/client-node';
import type WebSocket from 'ws';
import { newInstance } from '../helpers/index.js';
import { busyboxImage, peerDiffers, startBerthd, type Berthd } from './berthd.js';
import { sandboxConfig } from './sandbox.js';
import { handlerFor } from './ws-handler.js';


/** One forwarded connection: its output and error stream once the WebSocket closed. */
async function forward(d: Berthd, pod: string, port: number, send: (input: PassThrough, out: PassThrough) => Promise<void>): Promise<{ out: string; err: string }> {
  const { url } = await d.cri.runtime('PortForward', { pod_sandbox_id: pod, port: [port] });
  const out = new PassThrough();
  const err = new PassThrough();
  const input = new PassThrough();
  let o = '';
  let e = '';
  out.on('data', (b: Buffer) => (o += b));
  err.on('data', (b: Buffer) => (e += b));
  const ws = (await new PortForward(new KubeConfig(), true, handlerFor(url)).portForward('ns', 'pod', [port], out, err, input)) as WebSocket;
  const closed = new Promise((r) => ws.once('close', r));
  await send(input, out);
  await closed;
  return { out: o, err: e };
}

const until = (s: PassThrough, text: string) =>
  new Promise<void>((resolve) => {
    let got = '';
    const on = (b: Buffer) => {
      got += b;
      if (got.includes(text)) {
        s.off('data', on);
        resolve();
      }
    };
    s.on('data', on);
  });

test('PortForward: busybox httpd in a pod, two concurrent connections, a refused port', async (t) => {
  const inst = await newInstance();
  const d = await startBerthd(t, inst);
  // After berthd's own cleanup, which removes the pods left (hooks run in the order given).
  t.after(() => inst.cleanup());
  const image = await busyboxImage(d, inst);
  const podConfig = sandboxConfig('pf');
  const { pod_sandbox_id: pod } = await d.cri.runtime('RunPodSandbox', { config: podConfig });
  const { container_id: id } = await d.cri.runtime('CreateContainer', {
    pod_sandbox_id: pod,
    sandbox_config: podConfig,
    config: {
      metadata: { name: 'httpd', attempt: 0 },
      image: { image },
      command: ['sh', '-c', 'mkdir -p /tmp/www && echo served in the pod > /tmp/www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /tmp/www'],
    },
  });
  await d.cri.runtime('StartContainer', { container_id: id });

  const get = (input: PassThrough, out: PassThrough) => {
    input.write('GET /index.html HTTP/1.0\r\n\r\n');
    // httpd closes after its answer; the client ends its side (v4: it closes the WebSocket).
    return until(out, 'served in the pod\n').then(() => void input.end());
  };
  // httpd may still be starting: the first connections may be refused.
  let first: { out: string; err: string } | undefined;
  for (let i = 0; i < 100 && !first?.out; i++) {
    first = await forward(d, pod, 8080, async (input, out) => {
      await Promise.race([get(input, out), new Promise((r) => setTimeout(r, 200))]);
      input.end();
    });
    if (!first.out) await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(first!.out, /^HTTP\/1\.[01] 200[^]*served in the pod\n$/);

  // Two at once: the first holds its connection open, half a request sent, while the second is served.
  let releaseA!: () => void;
  const aStarted = new Promise<void>((r) => (releaseA = r));
  let bDone!: () => void;
  const bFinished = new Promise<void>((r) => (bDone = r));
  const a = forward(d, pod, 8080, async (input, out) => {
    input.write('GET /index.html HTTP/1.0\r\n');
    releaseA();
    await bFinished;
    input.write('\r\n');
    await until(out, 'served in the pod\n');
    input.end();
  });
  await aStarted;
  const b = await forward(d, pod, 8080, get);
  bDone();
  assert.match(b.out, /served in the pod\n$/);
  assert.match((await a).out, /^HTTP\/1\.[01] 200[^]*served in the pod\n$/);

  // Nothing on 8081: the reason on the error channel, the session ends.
  const refused = await forward(d, pod, 8081, async () => {});
  assert.equal(refused.out, '');
  const why = peerDiffers('nothing listens on port 8081', 'failed to execute portforward in network namespace .*connection refused', "containerd's words");
  assert.match(refused.err, new RegExp(`^error forwarding port 8081 to pod ${pod}, uid : ${why}`));
});
