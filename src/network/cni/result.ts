// The result a chain returns (spec 0.3.x–1.1 share this shape; 0.3/0.4 add ips[].version).

export interface CniInterface {
  name: string;
  mac?: string;
  mtu?: number;
  /** The netns path for interfaces inside the container; absent for host-side ones. */
  sandbox?: string;
}

export interface CniIpConfig {
  /** CIDR notation, e.g. 10.99.0.5/16. */
  address: string;
  gateway?: string;
  /** Index into interfaces. */
  interface?: number;
  version?: string;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  cniVersion: string;
  interfaces?: CniInterface[];
  ips?: CniIpConfig[];
  routes?: CniRoute[];
  dns?: CniDns;
  [key: string]: unknown;
}

export function isResult(v: unknown): v is CniResult {
  return typeof v === 'object' && v !== null && typeof (v as CniResult).cniVersion === 'string';
}

/** What a container needs from a result: its addresses, gateways and MAC on one interface. */
export interface AttachmentSummary {
  ifName: string;
  mac?: string;
  /** Addresses without prefix length, IPv4 first. */
  ips: string[];
  /** Addresses with prefix length (CIDR). */
  cidrs: string[];
  gateways: string[];
}

/** Summarises the interface named ifName inside the container (falls back to any sandboxed one). */
export function summarize(result: CniResult | undefined, ifName: string): AttachmentSummary {
  const summary: AttachmentSummary = { ifName, ips: [], cidrs: [], gateways: [] };
  if (!result) return summary;
  const interfaces = result.interfaces ?? [];
  let index = interfaces.findIndex((i) => i.name === ifName && i.sandbox);
  if (index < 0) index = interfaces.findIndex((i) => i.sandbox);
  if (index >= 0) summary.mac = interfaces[index]!.mac;
  const ips = (result.ips ?? []).filter((ip) => ip.interface === undefined || index < 0 || ip.interface === index);
  ips.sort((a, b) => Number(a.address.includes(':')) - Number(b.address.includes(':')));
  for (const ip of ips) {
    summary.cidrs.push(ip.address);
    summary.ips.push(ip.address.split('/')[0]!);
    if (ip.gateway && !summary.gateways.includes(ip.gateway)) summary.gateways.push(ip.gateway);
  }
  return summary;
}
