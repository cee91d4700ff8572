// docker's IDs for what berth names by name: a network's ID is derived from its name
// (stable, 64 hex digits), so every view of a network (its own, a container's) shows the same one.
import { createHash } from 'node:crypto';

export const networkId = (name: string) => createHash('sha256').update(name).digest('hex');

/** A container's endpoint on a network: one ID for the network's view and the container's. */
export const endpointId = (containerId: string, network: string) => createHash('sha256').update(`${containerId}/${network}`).digest('hex');
