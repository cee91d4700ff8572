// `search`, as podman searches a registry that is not Docker Hub: the repositories of its
// catalog (GET /v2/_catalog) whose name contains the term, or with --list-tags the tags of
// one repository. A term without a registry (no '.', ':' or localhost before its first '/')
// is looked up in each unqualified-search registry of registries.conf.
import type { Command } from './command.js';
import { formatFlag } from './command.js';
import { printList, table } from './format.js';
import { authFileFlag, registryOptions, tlsFlags } from './registry-flags.js';
import { printError } from './errors.js';
import { invalidArgument } from '../errors/index.js';
import { writeOut } from './stdout.js';

const FILTERS = ['stars', 'is-official', 'is-automated'];

/** The registry a term names and the rest of it, or no registry for a term without one. */
function splitTerm(term: string): { registry?: string; rest: string } {
  const slash = term.indexOf('/');
  const first = term.slice(0, slash);
  if (slash > 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) return { registry: first, rest: term.slice(slash + 1) };
  return { rest: term };
}

/** A catalog entry has no stars and is neither official nor automated: the filters keep it or drop it. */
function filterTest(filters: string[]): boolean {
  let keep = true;
  for (const spec of filters) {
    const i = spec.indexOf('=');
    const [k, v] = i < 0 ? [spec, ''] : [spec.slice(0, i), spec.slice(i + 1)];
    if (!FILTERS.includes(k)) throw invalidArgument(`invalid filter "${spec}": supported are ${FILTERS.join(', ')}`);
    if (k === 'stars') {
      if (!/^\d+$/.test(v)) throw invalidArgument(`invalid filter "${spec}": stars takes a number`);
      keep &&= Number(v) === 0;
    } else {
      if (v !== 'true' && v !== 'false') throw invalidArgument(`invalid filter "${spec}": ${k} is true or false`);
      keep &&= v === 'false';
    }
  }
  return keep;
}

export const searchCommand: Command = {
  name: 'search',
  usage: 'search [OPTIONS] TERM',
  summary: "Search registries' catalogs for images, or list an image's tags",
  flags: [
    { name: 'limit', type: 'int', value: 'N', desc: 'At most N results per registry (default 25), or N tags with --list-tags' },
    { name: 'list-tags', type: 'bool', desc: 'List the tags of the repository TERM names' },
    { name: 'filter', short: 'f', type: 'strings', value: 'KEY=VALUE', desc: 'stars=N, is-official=BOOL, is-automated=BOOL (a catalog has no stars, no official or automated images)' },
    { name: 'no-trunc', type: 'bool', desc: 'Do not truncate the output (catalogs have no descriptions to cut)' },
    formatFlag,
    authFileFlag,
    ...tlsFlags,
  ],
  minArgs: 1,
  maxArgs: 1,
  async run(ctx, f, [term]) {
    const limit = (f.limit as number | undefined) ?? 25;
    if (limit < 1) throw invalidArgument(`invalid --limit ${limit}: at least 1`);
    const keep = filterTest((f.filter as string[] | undefined) ?? []);
    const { registry, rest } = splitTerm(term);
    if (f['list-tags'] && (rest === '' || /[:@]/.test(rest))) throw invalidArgument(`--list-tags takes a repository without a tag or digest: "${term}"`);
    const session = await ctx.registry(registryOptions(f));
    const { isInsecureHost, pushSource } = await import('../registry/index.js');
    try {
      const registries = registry ? [registry] : session.conf.unqualifiedSearch;
      if (registries.length === 0) throw invalidArgument(`no registry to search: "${term}" names none and registries.conf has no unqualified-search-registries`);
      const format = f.format as string | undefined;
      if (f['list-tags']) {
        // The first registry that has the repository answers, as a pull would find it.
        let failure: unknown;
        for (const host of registries) {
          try {
            const tags = (await session.client.repository(pushSource(session.conf, `${host}/${rest}`)).tags()).slice(0, limit);
            const name = `${host}/${rest}`;
            if (format === 'json') return void writeOut(JSON.stringify([{ Name: name, Tags: tags }], null, 4) + '\n');
            const rows = tags.map((tag) => ({ Name: name, Tag: tag }));
            return void (await printList(rows, format, (rs) => table(['NAME', 'TAG'], rs.map((r) => [r.Name, r.Tag])), (r) => r));
          } catch (e) {
            failure ??= e;
          }
        }
        throw failure;
      }
      const results: { Index: string; Name: string; Description: string; Stars: number; Official: string; Automated: string; Tag: string }[] = [];
      let failed = 0;
      for (const host of registries) {
        try {
          const repos = await session.client.catalog(host, isInsecureHost(session.conf, host));
          const hits = repos.filter((r) => r.includes(rest)).slice(0, limit);
          if (keep) results.push(...hits.map((r) => ({ Index: host, Name: `${host}/${r}`, Description: '', Stars: 0, Official: '', Automated: '', Tag: '' })));
        } catch (e) {
          // One registry's failure ends the search only when it is the only one asked.
          if (registries.length === 1) throw e;
          printError(e, false);
          failed++;
        }
      }
      if (format === 'json') writeOut(JSON.stringify(results, null, 4) + '\n');
      else if (results.length > 0 || (format && format !== 'table'))
        await printList(results, format, (rs) => table(['NAME', 'DESCRIPTION'], rs.map((r) => [r.Name, r.Description])), (r) => r);
      return failed === registries.length ? 125 : 0;
    } finally {
      session.close();
    }
  },
};
