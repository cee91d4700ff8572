// Network configurations as the CNI spec defines them: lists (*.conflist) and the older
// single-plugin files (*.conf, *.json), loaded from a conf dir in lexical order.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isValidName } from '../../config/index.js';
import { invalidArgument, fromSystemError } from '../../errors/index.js';

/** One plugin's configuration: `type` plus whatever the plugin understands. */
export interface PluginConf {
  type: string;
  capabilities?: Record<string, boolean>;
  [key: string]: unknown;
}

/** A network: a named chain of plugins run in order for ADD and in reverse for DEL. */
export interface NetworkConfigList {
  cniVersion: string;
  /** Versions the configuration also accepts (spec 1.1); the highest one berth speaks wins. */
  cniVersions?: string[];
  name: string;
  disableCheck?: boolean;
  disableGC?: boolean;
  plugins: PluginConf[];
  /** File it was loaded from (absent for configurations built in memory). */
  file?: string;
  /** Anything else found at the top level (berth keeps its own labels here). */
  [key: string]: unknown;
}

/** Spec versions berth can drive. 0.1.0/0.2.0 results have another shape and are refused. */
const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** Compares dotted versions numerically: -1, 0 or 1. */
function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < 3; i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

export function versionAtLeast(v: string, min: string): boolean {
  return compareVersions(v, min) >= 0;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The version to speak: the highest of cniVersions berth supports, else cniVersion. */
function effectiveVersion(doc: Record<string, unknown>, where: string): string {
  const listed = Array.isArray(doc.cniVersions) ? doc.cniVersions.filter((v): v is string => typeof v === 'string') : [];
  const usable = listed.filter((v) => SUPPORTED_VERSIONS.includes(v)).sort(compareVersions);
  if (usable.length > 0) return usable[usable.length - 1]!;
  const v = doc.cniVersion;
  if (typeof v !== 'string' || v === '') throw invalidArgument(`${where}: cniVersion is missing`);
  if (!SUPPORTED_VERSIONS.includes(v)) {
    throw invalidArgument(`${where}: unsupported cniVersion "${v}" (supported: ${SUPPORTED_VERSIONS.join(', ')})`);
  }
  return v;
}

function checkPlugin(p: unknown, where: string): PluginConf {
  if (!isObject(p)) throw invalidArgument(`${where}: a plugin entry is not an object`);
  if (typeof p.type !== 'string' || p.type === '' || p.type.includes('/')) {
    throw invalidArgument(`${where}: a plugin has no valid "type"`);
  }
  if (p.capabilities !== undefined && !isObject(p.capabilities)) {
    throw invalidArgument(`${where}: plugin ${p.type}: "capabilities" must be an object`);
  }
  return p as PluginConf;
}

function checkName(name: unknown, where: string): string {
  if (!isValidName(name)) throw invalidArgument(`${where}: missing or invalid network name`);
  return name;
}

function parseJson(text: string, where: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalidArgument(`${where}: invalid JSON: ${(e as Error).message}`);
  }
  if (!isObject(doc)) throw invalidArgument(`${where}: not a JSON object`);
  return doc;
}

/** Parses a network configuration list (the *.conflist format). */
export function parseConfList(text: string, where = 'network config'): NetworkConfigList {
  const doc = parseJson(text, where);
  const name = checkName(doc.name, where);
  const cniVersion = effectiveVersion(doc, where);
  if (!Array.isArray(doc.plugins) || doc.plugins.length === 0) throw invalidArgument(`${where}: "plugins" must be a non-empty list`);
  const plugins = doc.plugins.map((p) => checkPlugin(p, where));
  return { ...doc, name, cniVersion, plugins } as NetworkConfigList;
}

/** Parses a single-plugin configuration (*.conf/*.json) and wraps it as a one-plugin list. */
export function parseSingleConf(text: string, where = 'network config'): NetworkConfigList {
  const doc = parseJson(text, where);
  if (Array.isArray(doc.plugins)) return parseConfList(text, where);
  const name = checkName(doc.name, where);
  const cniVersion = effectiveVersion(doc, where);
  const plugin = { ...doc };
  delete plugin.name;
  delete plugin.cniVersion;
  delete plugin.cniVersions;
  return { cniVersion, name, plugins: [checkPlugin(plugin, where)] };
}

export interface LoadedNetworks {
  /** Valid networks by name; the lexically first file wins when two share a name. */
  networks: Map<string, NetworkConfigList>;
  /** Files that could not be used, with the reason (reported, never fatal for others). */
  invalid: { file: string; error: string }[];
}

const CONF_EXTENSIONS = ['.conflist', '.conf', '.json'];

/** Loads every configuration in confDir (absent dir = none). */
export async function loadNetworks(confDir: string): Promise<LoadedNetworks> {
  const out: LoadedNetworks = { networks: new Map(), invalid: [] };
  let names: string[];
  try {
    names = await readdir(confDir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw fromSystemError(e, confDir);
  }
  names = names.filter((n) => CONF_EXTENSIONS.some((ext) => n.endsWith(ext))).sort();
  for (const n of names) {
    const file = join(confDir, n);
    try {
      const text = await readFile(file, 'utf8');
      const list = n.endsWith('.conflist') ? parseConfList(text, file) : parseSingleConf(text, file);
      list.file = file;
      if (!out.networks.has(list.name)) out.networks.set(list.name, list);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') continue; // removed while listing
      out.invalid.push({ file, error: (e as Error).message });
    }
  }
  return out;
}

/** The JSON a plugin receives on stdin, minus prevResult/runtimeConfig (added per call). */
export function pluginStdin(list: NetworkConfigList, plugin: PluginConf): Record<string, unknown> {
  return { ...plugin, cniVersion: list.cniVersion, name: list.name };
}

/** A list as it is written to disk (no bookkeeping fields). */
export function serializeConfList(list: NetworkConfigList): string {
  const { file: _file, ...doc } = list;
  return JSON.stringify(doc, null, 2) + '\n';
}
