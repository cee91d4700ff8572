// Platforms (os/arch/variant) and the choice of an index entry for one, for pull and for
// load alike. Names are normalized as the OCI image spec's platform values are commonly
// written (x86_64 → amd64, aarch64 → arm64, armhf → arm/v7 …) and the variant an
// architecture implies is filled in (arm64 → v8, arm → v7), so "linux/arm64" and
// "linux/arm64/v8" are one platform. Among the entries the exact platform wins, then an
// older variant of the same architecture (an arm/v7 machine runs arm/v6 code); a platform
// asked for without a variant takes any variant of its architecture after those.
import { invalidArgument } from '../errors/index.js';
import { hostArchitecture, type OciDescriptor, type Platform } from './types.js';

/** 'os/arch[/variant]' as given (selectPlatform normalizes); undefined: this machine's platform. */
export function parsePlatform(s: string | undefined): Platform {
  if (!s) return { os: 'linux', architecture: hostArchitecture() };
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === ''))
    throw invalidArgument(`invalid platform "${s}": expected OS/ARCH[/VARIANT], e.g. linux/amd64`);
  return { os: parts[0]!, architecture: parts[1]!, variant: parts[2] };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/** Lower case, common aliases to their OCI names, and the implied variant made explicit. */
export function normalizePlatform(p: Platform): Platform {
  const os = (p.os ?? '').toLowerCase();
  let arch = (p.architecture ?? '').toLowerCase();
  let variant: string | undefined = p.variant?.toLowerCase() || undefined;
  switch (arch) {
    case 'i386':
    case 'i686':
      arch = '386';
      variant = undefined;
      break;
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (variant === 'v1') variant = undefined;
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (variant === undefined || variant === '8' || variant === 'v8.0') variant = 'v8';
      else if (variant === '9' || variant === 'v9.0') variant = 'v9';
      break;
    case 'armhf':
      arch = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === undefined || variant === '7') variant = 'v7';
      else if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
      break;
  }
  return { ...p, os: os === 'macos' ? 'darwin' : os, architecture: arch, variant };
}

/**
 * The platforms a machine of platform `want` runs, best first: itself, then the older
 * variants of its architecture (arm v7 → v6 → v5, amd64 v3 → v2 → v1).
 */
function compatible(want: Platform): Platform[] {
  const out = [want];
  const n = Number(want.variant?.replace(/^v/, ''));
  if (want.architecture === 'arm' && Number.isInteger(n)) for (let v = n - 1; v >= 5; v--) out.push({ ...want, variant: `v${v}` });
  if (want.architecture === 'amd64' && Number.isInteger(n))
    for (let v = n - 1; v >= 1; v--) out.push({ ...want, variant: v === 1 ? undefined : `v${v}` });
  return out;
}

/** The index entry for `want` (see above); undefined when the index has none that fits. */
export function selectPlatform(entries: OciDescriptor[] | undefined, want: Platform): OciDescriptor | undefined {
  if (!Array.isArray(entries)) return undefined;
  const candidates = entries.filter((e) => e?.platform && typeof e.platform.os === 'string' && typeof e.platform.architecture === 'string');
  const normalized = candidates.map((e) => normalizePlatform(e.platform!));
  for (const p of compatible(normalizePlatform(want))) {
    const i = normalized.findIndex((q) => q.os === p.os && q.architecture === p.architecture && q.variant === p.variant);
    if (i >= 0) return candidates[i];
  }
  if (want.variant) return undefined;
  const w = normalizePlatform(want);
  return candidates[normalized.findIndex((q) => q.os === w.os && q.architecture === w.architecture)];
}
