// RuntimeService/UpdateRuntimeConfig: the kubelet hands over the node's pod CIDR. berth's
// CNI config is the operator's, so it is only remembered (and shown in Status' info).
import { log } from '../log/index.js';
import type { CallContext } from './context.js';
import type { UpdateRuntimeConfigRequest, UpdateRuntimeConfigResponse } from './types.js';

export async function updateRuntimeConfig(ctx: CallContext, req: UpdateRuntimeConfigRequest): Promise<UpdateRuntimeConfigResponse> {
  const cidr = req.runtime_config?.network_config?.pod_cidr ?? '';
  if (cidr && cidr !== ctx.state.podCidr) {
    ctx.state.podCidr = cidr;
    log.info('pod CIDR updated', { podCidr: cidr });
  }
  return {};
}
