// RuntimeService/Version.
import { version } from '../engine/index.js';
import type { CallContext } from './context.js';
import type { VersionRequest, VersionResponse } from './types.js';

/** The kubelet runtime API version this server answers with (what containerd and cri-o answer). */
const KUBELET_API_VERSION = '0.1.0';

export async function versionRpc(_ctx: CallContext, _req: VersionRequest): Promise<VersionResponse> {
  return { version: KUBELET_API_VERSION, runtime_name: 'berth', runtime_version: version, runtime_api_version: 'v1' };
}
