// The Kubernetes JavaScript client's WebSocketHandler (what its Exec, Attach and PortForward
// use), sent straight to a streaming URL of berthd instead of an API server path.
import { KubeConfig } from '@kubernetes/client-node';
// Not exported from the package's index.
import { WebSocketHandler } from '@kubernetes/client-node/dist/web-socket-handler.js';

export function handlerFor(url: string): WebSocketHandler {
  const u = new URL(url);
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'berthd', server: `http://${u.host}`, skipTLSVerify: true }],
    users: [{ name: 'kubelet' }],
    contexts: [{ name: 'berthd', cluster: 'berthd', user: 'kubelet' }],
    currentContext: 'berthd',
  });
  const handler = new WebSocketHandler(kc);
  const connect = handler.connect.bind(handler);
  handler.connect = (_path, text, binary) => connect(u.pathname, text, binary);
  return handler;
}
