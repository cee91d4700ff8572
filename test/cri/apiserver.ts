// Just enough of a Kubernetes API server for kubectl exec/attach/port-forward: pods by name
// (each a CRI pod and container of a berthd), and the streaming subresources handled as the
// kubelet does — the CRI Exec/Attach/PortForward call, then the client's upgraded
// connection proxied byte for byte to the URL berthd returned. So kubectl's own SPDY (and
// WebSocket) clients talk to berthd's streaming server.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { connect } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Berthd } from './berthd.js';

export interface FakePod {
  podId: string;
  containerId: string;
}

export interface ApiServer {
  url: string;
  pods: Map<string, FakePod>;
  close(): Promise<void>;
}

const podJson = (name: string) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', uid: `uid-${name}` },
  spec: { containers: [{ name: 'c', image: 'busybox' }] },
  status: { phase: 'Running', containerStatuses: [{ name: 'c', ready: true, state: { running: {} } }] },
});

const discovery: Record<string, object> = {
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] },
  '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [] },
  '/api/v1': {
    kind: 'APIResourceList',
    groupVersion: 'v1',
    resources: [
      { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['get', 'list'], shortNames: ['po'] },
      { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
      { name: 'pods/attach', singularName: '', namespaced: true, kind: 'PodAttachOptions', verbs: ['create', 'get'] },
      { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
    ],
  },
};

const flag = (q: URLSearchParams, k: string) => q.get(k) === 'true' || q.get(k) === '1';

export async function startApiServer(d: Berthd): Promise<ApiServer> {
  const pods = new Map<string, FakePod>();
  const server: Server = createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://api');
    const podName = /^\/api\/v1\/namespaces\/[^/]+\/pods\/([^/]+)$/.exec(u.pathname)?.[1];
    const body = discovery[u.pathname] ?? (podName && pods.has(podName) ? podJson(podName) : undefined);
    if (!body) {
      res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404 }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => undefined);
    proxyStream(d, pods, req, socket, head).catch((e: Error) => {
      socket.end(`HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n${e.message}\n`);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    pods,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The kubelet's part: the CRI call for the subresource, then a raw proxy to its URL. */
async function proxyStream(d: Berthd, pods: Map<string, FakePod>, req: IncomingMessage, client: Duplex, head: Buffer): Promise<void> {
  const u = new URL(req.url ?? '/', 'http://api');
  const m = /^\/api\/v1\/namespaces\/[^/]+\/pods\/([^/]+)\/(exec|attach|portforward)$/.exec(u.pathname);
  const pod = m && pods.get(m[1]);
  if (!m || !pod) throw new Error(`no such pod or subresource: ${u.pathname}`);
  const q = u.searchParams;
  const stdio = { stdin: flag(q, 'stdin'), stdout: flag(q, 'stdout'), stderr: flag(q, 'stderr'), tty: flag(q, 'tty') };
  let url: string;
  if (m[2] === 'exec') url = (await d.cri.runtime('Exec', { container_id: pod.containerId, cmd: q.getAll('command'), ...stdio })).url;
  else if (m[2] === 'attach') url = (await d.cri.runtime('Attach', { container_id: pod.containerId, ...stdio })).url;
  else url = (await d.cri.runtime('PortForward', { pod_sandbox_id: pod.podId, port: q.getAll('ports').map(Number) })).url;
  const target = new URL(url);
  const upstream = connect(Number(target.port), target.hostname);
  upstream.on('error', () => client.destroy());
  client.on('close', () => upstream.destroy());
  upstream.on('close', () => client.destroy());
  await new Promise<void>((resolve, reject) => {
    upstream.once('connect', resolve);
    upstream.once('error', reject);
  });
  const headers: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i];
    headers.push(`${name}: ${name.toLowerCase() === 'host' ? target.host : req.rawHeaders[i + 1]}`);
  }
  upstream.write(`${req.method} ${target.pathname}${target.search} HTTP/1.1\r\n${headers.join('\r\n')}\r\n\r\n`);
  if (head.length > 0) upstream.write(head);
  client.pipe(upstream);
  upstream.pipe(client);
}
