// The container process' command line and environment, by docker's rules.
import type { ContainerConfig } from './types.js';

/** ENTRYPOINT + CMD, where an --entrypoint override also drops the image's CMD. */
export function processArgs(image: { Entrypoint?: string[] | null; Cmd?: string[] | null }, cfg: ContainerConfig): string[] {
  const entrypoint = cfg.entrypoint ?? image.Entrypoint ?? [];
  const cmd = cfg.command ?? (cfg.entrypoint !== undefined ? [] : image.Cmd ?? []);
  return [...entrypoint, ...cmd];
}

/** Later entries win, by variable name. */
export function mergeEnv(base: string[], extra: string[]): string[] {
  const out = new Map<string, string>();
  for (const e of [...base, ...extra]) {
    const i = e.indexOf('=');
    out.set(i < 0 ? e : e.slice(0, i), e);
  }
  return [...out.values()];
}
