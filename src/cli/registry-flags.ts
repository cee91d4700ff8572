// The registry flags (--authfile, --cert-dir, --tls-verify) and the engine options they
// mean, for every command that talks to a registry.
import type { FlagDef, FlagValues } from './args.js';
import type { RegistryOptions } from '../engine/index.js';

export const authFileFlag: FlagDef = { name: 'authfile', type: 'string', value: 'PATH', desc: 'Credentials file (default $REGISTRY_AUTH_FILE or ${XDG_RUNTIME_DIR}/containers/auth.json)' };
export const tlsFlags: FlagDef[] = [
  { name: 'cert-dir', type: 'string', value: 'DIR', desc: 'Certificates per registry: DIR/HOST[:PORT]/{ca.crt,*.cert,*.key} (default /etc/containers/certs.d)' },
  { name: 'tls-verify', type: 'bool', default: true, desc: 'Require HTTPS and verify certificates (false: like an insecure registry)' },
];

/** A command's registry options (its flags when it has them; defaults otherwise). */
export function registryOptions(f: FlagValues): RegistryOptions {
  return { certsDir: f['cert-dir'] as string | undefined, tlsVerify: f['tls-verify'] !== false, authFile: f.authfile as string | undefined };
}
