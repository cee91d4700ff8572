// RuntimeService/RuntimeConfig: the cgroup driver the kubelet must use with berth.
import type { CallContext } from './context.js';
import type { RuntimeConfigRequest, RuntimeConfigResponse } from './types.js';

export async function runtimeConfig(ctx: CallContext, _req: RuntimeConfigRequest): Promise<RuntimeConfigResponse> {
  return { linux: { cgroup_driver: ctx.config.daemon.cgroupDriver === 'systemd' ? 'SYSTEMD' : 'CGROUPFS' } };
}
