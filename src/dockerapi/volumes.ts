// /volumes/…: list, inspect, create (the local driver), remove, prune, in docker's shape
// and words, over the VolumeStore the CLI uses.
import { failedPrecondition, invalidArgument, isBerthError, notFound } from '../errors/index.js';
import type { Volume, VolumeStore } from '../volume/index.js';
import { filterParam, labelsMatch, type Router } from './server.js';

function volumeView(store: VolumeStore, v: Volume) {
  return {
    Name: v.name,
    Driver: 'local',
    Mountpoint: store.mountpoint(v.name),
    CreatedAt: new Date(v.createdAt).toISOString().replace(/\.\d+Z$/, 'Z'),
    Labels: v.labels,
    Scope: 'local',
    Options: Object.keys(v.options).length ? v.options : null,
  };
}

/** The volume called name, with docker's message when there is none. */
async function getVolume(store: VolumeStore, name: string): Promise<Volume> {
  try {
    return await store.get(name);
  } catch (e) {
    if (isBerthError(e, 'NotFound')) throw notFound(`get ${name}: no such volume`);
    throw e;
  }
}

function volumeFilter(v: Volume, users: string[], [k, val]: [string, string]): boolean {
  switch (k) {
    case 'name':
      return v.name.includes(val);
    case 'label':
      return labelsMatch(v.labels, val);
    case 'label!':
      return !labelsMatch(v.labels, val);
    case 'driver':
      return val === 'local';
    case 'dangling':
      return (users.length === 0) === (val === 'true' || val === '1');
    case 'all':
      return true; // prune's: named volumes too
    default:
      throw invalidArgument(`invalid filter '${k}'`);
  }
}

interface CreateBody {
  Name?: string;
  Driver?: string | null;
  DriverOpts?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
}

export function volumeRoutes(router: Router): void {
  router
    .add('GET', '/volumes', async (req, reply) => {
      const store = await req.engine.volumes();
      const filters = filterParam(req.query);
      const out = [];
      for (const v of await store.list()) {
        const users = filters.some(([k]) => k === 'dangling') ? await store.usersOf(v.name) : [];
        if (filters.every((f) => volumeFilter(v, users, f))) out.push(volumeView(store, v));
      }
      reply.json(200, { Volumes: out, Warnings: [] });
    })
    .add('POST', '/volumes/create', async (req, reply) => {
      const body = (await req.json<CreateBody>()) ?? {};
      const driver = body.Driver || 'local';
      if (driver !== 'local') throw notFound(`error looking up volume plugin ${driver}: plugin "${driver}" not found`);
      const store = await req.engine.volumes();
      // As docker: creating one that exists gives that one.
      if (body.Name && (await store.exists(body.Name))) return reply.json(201, volumeView(store, await store.get(body.Name)));
      const v = await store.create({ name: body.Name || undefined, labels: body.Labels ?? {}, options: body.DriverOpts ?? {} });
      reply.json(201, volumeView(store, v));
    })
    .add('GET', '/volumes/{name}', async (req, reply) => {
      const store = await req.engine.volumes();
      reply.json(200, volumeView(store, await getVolume(store, req.params[0])));
    })
    .add('DELETE', '/volumes/{name}', async (req, reply) => {
      const store = await req.engine.volumes();
      const v = await getVolume(store, req.params[0]);
      const users = await store.usersOf(v.name);
      // As docker, force does not remove a volume a container uses (it is for driver errors).
      if (users.length > 0) throw failedPrecondition(`remove ${v.name}: volume is in use - [${users.join(', ')}]`);
      await store.remove(v.name);
      reply.empty(204);
    })
    .add('POST', '/volumes/prune', async (req, reply) => {
      const store = await req.engine.volumes();
      const filters = filterParam(req.query);
      // docker (API 1.42+) prunes anonymous volumes only, unless the filter all=true.
      const all = filters.some(([k, v]) => k === 'all' && (v === 'true' || v === '1'));
      const deleted = await store.prune((v) => (!all && !v.anonymous) || !filters.every((f) => volumeFilter(v, [], f)));
      reply.json(200, { VolumesDeleted: deleted, SpaceReclaimed: 0 });
    });
}
