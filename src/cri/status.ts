// RuntimeService/Status: the runtime is ready once it serves; the network is ready once a
// CNI configuration exists in the conf dir (the condition the kubelet keeps a node
// NotReady on, with containerd's reason).
import type { CallContext } from './context.js';
import type { RuntimeCondition, StatusRequest, StatusResponse } from './types.js';

export async function status(ctx: CallContext, req: StatusRequest): Promise<StatusResponse> {
  const network = await ctx.engine.network();
  const cni = await network.configured();
  const ready = cni.networks.length > 0;
  const why = cni.invalid.length > 0 ? `; not loadable: ${cni.invalid.map((i) => `${i.file}: ${i.error}`).join('; ')}` : '';
  const conditions: RuntimeCondition[] = [
    { type: 'RuntimeReady', status: true, reason: '', message: '' },
    ready
      ? { type: 'NetworkReady', status: true, reason: '', message: '' }
      : { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: `Network plugin returns error: no CNI network config found in ${cni.confDir}${why}` },
  ];
  const info: Record<string, string> = {};
  if (req.verbose) {
    const { paths, daemon, network: net, runtime } = ctx.config;
    info.config = JSON.stringify({ namespace: ctx.engine.namespace, root: paths.root, runRoot: paths.runRoot, configDir: paths.configDir, runtime, daemon, podCidr: ctx.state.podCidr ?? '' });
    info.cniconfig = JSON.stringify({ confDir: cni.confDir, pluginDirs: net.pluginDirs, networks: cni.networks, invalid: cni.invalid });
    info.lastCNILoadStatus = ready ? 'OK' : conditions[1].message;
  }
  return {
    status: { conditions },
    info,
    runtime_handlers: [{ name: '', features: { recursive_read_only_mounts: false, user_namespaces: false } }],
    features: { supplemental_groups_policy: false, user_namespaces_host_network: false },
  };
}
