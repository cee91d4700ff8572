// The containers `ps --filter`, `start --all --filter` and `container prune --filter` pick,
// with podman's keys. As in podman and docker, values of one key match if any matches (two
// statuses list both), different keys must all match, and so must every label given.
// The filters are checked before any container is looked at: a bad one is an error even
// when nothing would be listed.
import type { Container, ContainerManager } from '../container/index.js';
import { invalidArgument, isBerthError } from '../errors/index.js';
import { healthFilter } from './healthcheck.js';
import { parseRestart, parseTime } from './options.js';

const STATUSES = ['created', 'running', 'paused', 'exited', 'removing'];
const KEYS = ['id', 'name', 'status', 'exited', 'ancestor', 'label', 'health', 'before', 'since', 'until', 'restart-policy', 'network', 'volume'];

/** docker's names for states in `ps`/`inspect` (a paused container is running, frozen). */
export function statusWord(c: Pick<Container, 'state' | 'paused'>): string {
  if (c.paused && c.state === 'running') return 'paused';
  switch (c.state) {
    case 'stopped':
      return 'exited';
    case 'creating':
      return 'created';
    default:
      return c.state;
  }
}

type Test = (c: Container) => boolean;

/** One KEY=VALUE as a test of a container. */
async function testOf(mgr: ContainerManager, key: string, value: string, spec: string): Promise<Test> {
  switch (key) {
    case 'id':
      return (c) => c.id.startsWith(value);
    case 'name': {
      let re: RegExp;
      try {
        re = new RegExp(value);
      } catch {
        throw invalidArgument(`invalid filter "${spec}": not a regular expression`);
      }
      return (c) => re.test(c.name);
    }
    case 'status':
      if (!STATUSES.includes(value)) throw invalidArgument(`invalid filter "${spec}": status is one of ${STATUSES.join(', ')}`);
      return (c) => statusWord(c) === value;
    case 'exited': {
      if (!/^-?\d+$/.test(value)) throw invalidArgument(`invalid filter "${spec}": exited takes an exit code`);
      return (c) => c.state === 'stopped' && c.exitCode === Number(value);
    }
    case 'ancestor':
      return (c) => c.config.image === value || c.imageName === value || c.imageId?.startsWith(value.replace(/^sha256:/, '')) === true;
    case 'label': {
      const i = value.indexOf('=');
      const [k, v] = i < 0 ? [value, undefined] : [value.slice(0, i), value.slice(i + 1)];
      return (c) => c.config.labels?.[k] !== undefined && (v === undefined || c.config.labels[k] === v);
    }
    case 'health':
      return healthFilter(mgr, value);
    case 'before':
    case 'since': {
      let other: Container;
      try {
        other = await mgr.get(value);
      } catch (e) {
        throw isBerthError(e, 'NotFound') ? invalidArgument(`invalid filter "${spec}": no such container: ${value}`) : e;
      }
      return key === 'before' ? (c) => c.createdAt < other.createdAt : (c) => c.createdAt > other.createdAt;
    }
    case 'until': {
      const until = parseTime(value, 'the until filter').getTime();
      return (c) => c.createdAt < until;
    }
    case 'restart-policy': {
      parseRestart(value);
      return (c) => (c.config.restartPolicy?.name ?? 'no') === value.split(':')[0];
    }
    case 'network': {
      const { DEFAULT_NETWORK } = await import('../network/index.js');
      return (c) => networksOf(c, DEFAULT_NETWORK).includes(value);
    }
    case 'volume':
      return (c) => (c.config.mounts ?? []).some((m) => m.destination === value || (m.type === 'volume' && m.name === value) || (m.type === 'bind' && m.source === value));
    default:
      throw invalidArgument(`invalid filter "${key}": supported are ${KEYS.join(', ')}`);
  }
}

/** The networks a container is on (running) or will join (stopped). */
function networksOf(c: Container, defaultNetwork: string): string[] {
  if (c.network?.attachments.length) return c.network.attachments.map((a) => a.network);
  const n = c.config.network;
  if (c.config.joinedContainer || n?.mode === 'none' || n?.mode === 'host') return [];
  return n?.networks?.length ? n.networks : [defaultNetwork];
}

/** The test the filters make together (all containers pass an empty list). */
export async function containerFilter(mgr: ContainerManager, filters: string[]): Promise<Test> {
  const byKey = new Map<string, Test[]>();
  for (const spec of filters) {
    const i = spec.indexOf('=');
    if (i <= 0) throw invalidArgument(`bad filter "${spec}": expected KEY=VALUE`);
    const key = spec.slice(0, i);
    byKey.set(key, [...(byKey.get(key) ?? []), await testOf(mgr, key, spec.slice(i + 1), spec)]);
  }
  return (c) => [...byKey].every(([key, tests]) => (key === 'label' ? tests.every((t) => t(c)) : tests.some((t) => t(c))));
}
