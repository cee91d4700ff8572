// A process that creates and starts one container through the library, prints its id and
// then waits to be killed: the test kills it to show that exits are not lost with it.
// argv: JSON of { dirs, image, command }.
import { openEngine, type Dirs } from './engine.js';

const { dirs, image, command } = JSON.parse(process.argv[2]!) as { dirs: Dirs; image: string; command: string[] };
// No exit command: nothing but the exit file records the exit.
const engine = await openEngine(dirs);
const c = await engine.containers.create({ image, command, network: { mode: 'none' } });
await engine.containers.start(c.id);
process.stdout.write(`${c.id}\n`);
setInterval(() => {}, 60_000);
