// Image references as docker and podman parse them (distribution/reference grammar):
//   [domain[:port]/]path[:tag][@sha256:hex]
// A domain is the first component when it holds '.' or ':' or is 'localhost'.
import { invalidArgument } from '../errors/index.js';

export const DEFAULT_DOMAIN = 'docker.io';
const LOCAL_DOMAIN = 'localhost';
const DEFAULT_TAG = 'latest';

export interface Reference {
  /** '' when the reference names no domain. */
  domain: string;
  /** Repository path below the domain, e.g. 'library/busybox'. */
  path: string;
  tag?: string;
  digest?: string;
}

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_LABEL = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN = new RegExp(`^(?:${DOMAIN_LABEL}(?:\\.${DOMAIN_LABEL})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`);
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;
const MAX_NAME = 255;

const bad = (s: string) => invalidArgument(`invalid reference format: "${s}"`);

/** Parses without applying defaults. Throws InvalidArgument on malformed input. */
export function parseReference(s: string): Reference {
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw bad(s);
  }
  let tag: string | undefined;
  const lastSlash = rest.lastIndexOf('/');
  const colon = rest.lastIndexOf(':');
  if (colon > lastSlash) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG.test(tag)) throw bad(s);
  }
  if (rest === '' || rest.length > MAX_NAME) throw bad(s);
  let domain = '';
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === LOCAL_DOMAIN || first !== first.toLowerCase()) {
      domain = first;
      path = rest.slice(slash + 1);
      if (!DOMAIN.test(domain)) throw bad(s);
    }
  }
  if (!path.split('/').every((c) => COMPONENT.test(c))) throw bad(s);
  return { domain, path, tag, digest };
}

/**
 * Parses and fills in docker's defaults: domain docker.io (or defaultDomain), 'library/'
 * for single-component docker.io paths, tag 'latest' when there is neither tag nor digest.
 */
export function normalizeReference(s: string, defaultDomain = DEFAULT_DOMAIN): Reference {
  const r = parseReference(s);
  let domain = r.domain || defaultDomain;
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  let path = r.path;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = `library/${path}`;
  const tag = r.tag ?? (r.digest ? undefined : DEFAULT_TAG);
  return { domain, path, tag, digest: r.digest };
}

/** A name as it is stored for local-only images: domain-less names go under localhost/. */
export function normalizeLocalName(s: string): string {
  const r = normalizeReference(s, LOCAL_DOMAIN);
  if (r.digest) throw invalidArgument(`invalid reference format: "${s}": a tag name cannot contain a digest`);
  return formatReference(r);
}

/** 'domain/path[:tag][@digest]' */
export function formatReference(r: Reference): string {
  const name = r.domain ? `${r.domain}/${r.path}` : r.path;
  return name + (r.tag ? `:${r.tag}` : '') + (r.digest ? `@${r.digest}` : '');
}

/** 'domain/path' */
export function repositoryOf(r: Reference): string {
  return r.domain ? `${r.domain}/${r.path}` : r.path;
}

/** Splits a stored full name 'repo:tag' into its repository and tag. */
export function splitName(name: string): { repository: string; tag: string } {
  const r = parseReference(name);
  return { repository: repositoryOf(r), tag: r.tag ?? '' };
}

/**
 * The fully qualified names a user's reference may mean, in lookup order. Domain-less
 * names try localhost/ first (local imports), then each unqualified-search registry, then
 * docker.io (docker's default), as podman does.
 */
export function candidateNames(s: string, searchRegistries: string[] = []): Reference[] {
  const r = parseReference(s);
  if (r.domain) return [normalizeReference(s)];
  const out = [normalizeReference(s, LOCAL_DOMAIN)];
  for (const domain of [...searchRegistries, DEFAULT_DOMAIN]) {
    const c = normalizeReference(s, domain);
    if (!out.some((o) => formatReference(o) === formatReference(c))) out.push(c);
  }
  return out;
}

/**
 * Does the stored name 'domain/path:tag' match the short (domain-less) reference, as podman
 * matches local images: the same tag ('latest' if none is given) and a repository that is
 * the short path or ends in '/' + it (so 'httpd:1' matches 'quay.io/e2e/httpd:1').
 */
export function matchesShortName(stored: string, short: Reference): boolean {
  const s = parseReference(stored);
  if ((s.tag ?? DEFAULT_TAG) !== (short.tag ?? DEFAULT_TAG)) return false;
  return repositoryMatchesShort(repositoryOf(s), short.path);
}

/** Is repository the short path, or does it end in '/' + path? */
export function repositoryMatchesShort(repository: string, path: string): boolean {
  return repository === path || repository.endsWith(`/${path}`);
}
