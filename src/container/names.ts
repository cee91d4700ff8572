// Random container names in docker's adjective_noun style, so users can refer to
// containers they did not name; random IDs.
import { nodeCrypto } from '../sys/index.js';

export function randomHex(bytes: number): string {
  return nodeCrypto().randomBytes(bytes).toString('hex');
}

const adjectives = [
  'brave', 'calm', 'clever', 'cool', 'eager', 'fervent', 'gallant', 'happy', 'jolly', 'keen',
  'kind', 'lucid', 'modest', 'nifty', 'noble', 'quirky', 'serene', 'sharp', 'stoic', 'sweet',
  'tender', 'upbeat', 'vibrant', 'wizardly', 'zealous', 'bold', 'crisp', 'dreamy', 'fond', 'gentle',
];
const nouns = [
  'anchor', 'beacon', 'buoy', 'cove', 'current', 'dock', 'ferry', 'harbor', 'hull', 'jetty',
  'keel', 'lagoon', 'mast', 'mooring', 'pier', 'quay', 'reef', 'rudder', 'sail', 'schooner',
  'skiff', 'sloop', 'tide', 'wharf', 'wake', 'compass', 'galley', 'lantern', 'marina', 'tugboat',
];

export function randomName(): string {
  const { randomInt } = nodeCrypto();
  return `${adjectives[randomInt(adjectives.length)]}_${nouns[randomInt(nouns.length)]}`;
}
