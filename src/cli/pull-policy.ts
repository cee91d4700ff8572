// run/create --pull missing|always|never (with --platform, --tls-verify, --authfile for that
// pull): fetch the image first when the policy says so, with progress on stderr (stdout
// belongs to the container).
import type { FlagDef, FlagValues } from './args.js';
import type { Engine } from '../engine/index.js';
import type { PullProgress } from '../image/index.js';
import { invalidArgument, isBerthError } from '../errors/index.js';
// The one helper directly: image/index.ts would load the image store into every command's start-up.
import { hostArchitecture } from '../image/types.js';
import { authFileFlag, registryOptions, tlsFlags } from './registry-flags.js';

export const pullFlag: FlagDef = { name: 'pull', type: 'string', value: 'POLICY', default: 'missing', desc: 'Pull the image before running: missing (default), always or never' };
/** --platform, and podman's --arch, --os, --variant that make one up. */
export const platformFlags: FlagDef[] = [
  { name: 'platform', type: 'string', value: 'OS/ARCH[/VARIANT]', desc: "Platform to pull from a multi-platform image (default this machine's)" },
  { name: 'arch', type: 'string', value: 'ARCH', desc: "Architecture to pull instead of this machine's" },
  { name: 'os', type: 'string', value: 'OS', desc: 'OS to pull instead of linux' },
  { name: 'variant', type: 'string', value: 'VARIANT', desc: 'Architecture variant to pull' },
];

/** The flags of run and create that say how to pull the image. */
export const pullFlags: FlagDef[] = [pullFlag, ...platformFlags, authFileFlag, tlsFlags.find((d) => d.name === 'tls-verify')!];

/** The platform the flags ask for ('os/arch[/variant]'), undefined when none does. */
export function platformOf(f: FlagValues): string | undefined {
  const [platform, arch, os, variant] = (['platform', 'arch', 'os', 'variant'] as const).map((k) => f[k] as string | undefined);
  if (platform !== undefined) {
    if (arch !== undefined || os !== undefined) throw invalidArgument('--platform option can not be specified with --arch or --os');
    return platform;
  }
  if (arch === undefined && os === undefined && variant === undefined) return undefined;
  return [os ?? 'linux', arch ?? hostArchitecture(), variant].filter((p) => p !== undefined).join('/');
}

/** The one line a pull prints when it waits for another process's download or unpacking of a layer. */
export function waitingLine(e: Extract<PullProgress, { type: 'waiting' }>): string {
  if (e.work === 'unpack') return `Waiting for another process (pid ${e.pid}) unpacking layer ${e.digest}`;
  return `Waiting for another pull of blob ${e.digest} (pid ${e.pid})`;
}

/**
 * Pulls ref unless the policy and the local store say it is not needed (a local image of
 * another platform than --platform asks for is pulled again, as podman does). Returns the
 * name the container is to use: the pulled image's, or ref itself.
 */
export async function ensureImage(ctx: Engine, ref: string, f: FlagValues): Promise<string> {
  const policy = f.pull as string;
  // -q: nothing about the pull is printed.
  const say = (line: string) => void (f.quiet ? undefined : process.stderr.write(line));
  if (policy !== 'missing' && policy !== 'always' && policy !== 'never') throw invalidArgument(`invalid --pull "${policy}": missing, always or never`);
  const platform = platformOf(f);
  const images = await ctx.images();
  if (platform !== undefined) images.checkPlatform(platform);
  if (policy === 'never') return ref;
  if (policy === 'missing') {
    try {
      const local = images.resolve(ref);
      if (platform === undefined || images.hasPlatform(local, platform)) return ref;
    } catch (e) {
      if (!isBerthError(e, 'NotFound')) throw e;
    }
    say(`Unable to find image '${ref}' locally\n`);
  }
  const registry = await ctx.registry(registryOptions(f));
  const onProgress = (e: PullProgress) => {
    if (e.type === 'trying') say(`Trying to pull ${e.reference}...\n`);
    else if (e.type === 'waiting') say(`${waitingLine(e)}\n`);
    else if (e.type === 'blob' && e.kind !== 'config' && e.status === 'done') say(`Copying blob ${e.digest.slice(7, 19)} done\n`);
  };
  try {
    const { name } = await images.pull(images.pullTarget(ref), registry, { platform, onProgress });
    // The image just pulled, even where a short name matches another registry's too (by
    // digest, the reference says which already).
    return name ?? ref;
  } finally {
    registry.close();
  }
}
