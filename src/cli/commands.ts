// Every top-level command, in the order `berth --help` lists them.
import type { Command } from './command.js';
import { containerCommands } from './container.js';
import { imageCommands } from './image.js';
import { networkCommands } from './network.js';
import { registryCommands } from './registry.js';
import { systemCommands } from './system.js';

export const commands: Command[] = [...containerCommands, ...imageCommands, ...networkCommands, ...registryCommands, ...systemCommands];
