// What a masquerading plugin (ipMasq, as the bridge plugin has it) removes on DEL, for when it cannot:
// it learns the addresses to un-masquerade from the interface inside the netns, so a DEL
// without the netns leaves its nat rules. They carry the comment
// `name: "<network>" id: "<container id>"`: a POSTROUTING rule per address, jumping to a
// chain whose rules carry the same comment.
import { BerthError } from '../../errors/index.js';
import { execFileAsync } from '../../sys/index.js';
import type { NetworkConfigList } from './config.js';

const BUILTIN = new Set(['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING']);

/** Splits one iptables-save line into arguments ("..." quoted, with \" and \\ escaped). */
function saveArgs(line: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ') {
      i++;
      continue;
    }
    let arg = '';
    if (line[i] === '"') {
      for (i++; i < line.length && line[i] !== '"'; i++) arg += line[i] === '\\' && i + 1 < line.length ? line[++i] : line[i];
      i++;
    } else {
      for (; i < line.length && line[i] !== ' '; i++) arg += line[i];
    }
    out.push(arg);
  }
  return out;
}

function optionValue(args: string[], name: string): string | undefined {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
}

/** Removes the nat rules and chains a masquerading plugin of `list` made for containerId (IPv4 and IPv6). */
export async function removeMasquerade(list: NetworkConfigList, containerId: string): Promise<void> {
  if (!list.plugins.some((p) => p.ipMasq === true)) return;
  const comment = `name: "${list.name}" id: "${containerId}"`;
  for (const tool of ['iptables', 'ip6tables']) {
    const before = await natRules(tool, comment);
    if (!before || (before.mine.length === 0 && before.chains.size === 0)) continue; // none, or no such tool or table
    for (const { chain, spec } of before.mine) {
      if (chain === 'POSTROUTING') await iptables(tool, ['-D', chain, ...spec]);
    }
    for (const chain of before.chains) {
      await iptables(tool, ['-F', chain]);
      await iptables(tool, ['-X', chain]);
    }
    // A failed step above may have been another teardown doing the same: what is left counts.
    const after = await natRules(tool, comment);
    if (after && (after.mine.length > 0 || [...before.chains].some((c) => after.userChains.has(c)))) {
      throw new BerthError('Internal', `network "${list.name}": cannot remove the nat rules of container ${containerId}`);
    }
  }
}

/** The nat rules carrying `comment`, and the user chains they are in or jump to from POSTROUTING. */
async function natRules(tool: string, comment: string): Promise<{ mine: { chain: string; spec: string[] }[]; chains: Set<string>; userChains: Set<string> } | undefined> {
  let saved: string;
  try {
    saved = (await execFileAsync(`${tool}-save`, ['-t', 'nat'], { timeout: 30_000 })).stdout;
  } catch {
    return undefined;
  }
  const lines = saved.split('\n');
  const userChains = new Set(lines.filter((l) => l.startsWith(':')).map((l) => l.slice(1).split(' ')[0]!).filter((c) => !BUILTIN.has(c)));
  const mine = lines.filter((l) => l.startsWith('-A ')).map(saveArgs).filter((a) => optionValue(a, '--comment') === comment)
    .map(([, chain, ...spec]) => ({ chain: chain!, spec }));
  const chains = new Set<string>();
  for (const { chain, spec } of mine) {
    const target = chain === 'POSTROUTING' ? optionValue(spec, '-j') : chain;
    if (target && userChains.has(target)) chains.add(target);
  }
  return { mine, chains, userChains };
}

function iptables(tool: string, args: string[]): Promise<unknown> {
  return execFileAsync(tool, ['-w', '-t', 'nat', ...args], { timeout: 30_000 }).catch(() => undefined);
}
