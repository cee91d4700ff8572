// `import --change` instructions (a Dockerfile subset, like `docker import -c`): CMD,
// ENTRYPOINT, ENV, WORKDIR, USER, LABEL, EXPOSE, STOPSIGNAL, VOLUME.
import { invalidArgument } from '../errors/index.js';
import type { ContainerDefaults } from './types.js';

const SUPPORTED = ['CMD', 'ENTRYPOINT', 'ENV', 'WORKDIR', 'USER', 'LABEL', 'EXPOSE', 'STOPSIGNAL', 'VOLUME'];

/** Applies each change to a copy of defaults and returns it. */
export function applyChanges(defaults: ContainerDefaults, changes: string[]): ContainerDefaults {
  const c: ContainerDefaults = structuredClone(defaults);
  for (const change of changes) {
    // "CMD /bin/sh" and podman's "CMD=/bin/sh" both name the instruction first.
    const m = /^\s*([A-Za-z]+)(?:\s+|=)([\s\S]*)$/.exec(change);
    const instr = m?.[1].toUpperCase();
    if (!m || !instr || !SUPPORTED.includes(instr))
      throw invalidArgument(`invalid change "${change}": supported instructions are ${SUPPORTED.join(', ')}`);
    const arg = m[2].trim();
    switch (instr) {
      case 'CMD':
        c.Cmd = commandForm(arg);
        break;
      case 'ENTRYPOINT':
        c.Entrypoint = commandForm(arg);
        break;
      case 'ENV':
        for (const [k, v] of keyValues(arg, change)) c.Env = [...(c.Env ?? []).filter((e) => e.split('=')[0] !== k), `${k}=${v}`];
        break;
      case 'LABEL':
        for (const [k, v] of keyValues(arg, change)) c.Labels = { ...(c.Labels ?? {}), [k]: v };
        break;
      case 'WORKDIR':
        c.WorkingDir = arg;
        break;
      case 'USER':
        c.User = arg;
        break;
      case 'STOPSIGNAL':
        c.StopSignal = arg;
        break;
      case 'EXPOSE':
        for (const p of words(arg)) {
          if (!/^\d+(-\d+)?(\/(tcp|udp|sctp))?$/i.test(p)) throw invalidArgument(`invalid change "${change}": invalid port "${p}"`);
          c.ExposedPorts = { ...(c.ExposedPorts ?? {}), [p.includes('/') ? p.toLowerCase() : `${p}/tcp`]: {} };
        }
        break;
      case 'VOLUME': {
        const vols = arg.startsWith('[') ? jsonArray(arg, change) : words(arg);
        for (const v of vols) c.Volumes = { ...(c.Volumes ?? {}), [v]: {} };
        break;
      }
    }
  }
  return c;
}

/** JSON (exec) form ["a","b"], or shell form wrapped in /bin/sh -c. */
function commandForm(arg: string): string[] {
  if (arg.startsWith('[')) {
    try {
      const v = JSON.parse(arg) as unknown;
      if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
    } catch {
      // not JSON: docker then treats it as shell form
    }
  }
  return ['/bin/sh', '-c', arg];
}

function jsonArray(arg: string, change: string): string[] {
  try {
    const v = JSON.parse(arg) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // reported below
  }
  throw invalidArgument(`invalid change "${change}": expected a JSON array of strings`);
}

/** "K=V K2='v 2'" pairs, or the legacy single "K V" form. */
function keyValues(arg: string, change: string): [string, string][] {
  const parts = words(arg);
  if (parts.length === 0) throw invalidArgument(`invalid change "${change}": missing key`);
  if (!parts[0].includes('=')) {
    const sp = /^(\S+)\s+([\s\S]*)$/.exec(arg);
    if (!sp) throw invalidArgument(`invalid change "${change}": missing value`);
    return [[sp[1], unquote(sp[2].trim())]];
  }
  return parts.map((p) => {
    const eq = p.indexOf('=');
    if (eq <= 0) throw invalidArgument(`invalid change "${change}": "${p}" is not KEY=VALUE`);
    return [p.slice(0, eq), p.slice(eq + 1)];
  });
}

/** Splits on whitespace, honouring "double" and 'single' quotes and backslash escapes. */
function words(s: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < s.length) {
      cur += s[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) out.push(cur);
  return out;
}

function unquote(s: string): string {
  const w = words(s);
  return w.length === 1 && /^["']/.test(s) ? w[0] : s;
}
