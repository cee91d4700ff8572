// The Docker Engine API (`berth system service`, berthd's docker_socket): docker's REST
// API over the same engine and store as the CLI, so `docker ps` and `berth ps` show the
// same containers.
import type { Engine } from '../engine/index.js';
import { archiveRoutes } from './archive.js';
import { containerRoutes } from './containers.js';
import { eventRoutes } from './events.js';
import { execRoutes } from './exec.js';
import { imageIoRoutes } from './image-io.js';
import { imageRoutes } from './images.js';
import { networkRoutes } from './networks.js';
import { pushRoutes } from './push.js';
import { Router, serve, type Service } from './server.js';
import { systemRoutes } from './system.js';
import { volumeRoutes } from './volumes.js';
import { toolRoutes } from './tools.js';

export { API_VERSION } from './server.js';

export interface DockerApiOptions {
  /** The unix socket to listen on; the caller has cleared the path. */
  socketPath: string;
  /** Seconds without a client before the service ends; 0: never. */
  idleSeconds: number;
  /** At the signal, how long plain answers under way may take (streams end at once); default 0. */
  graceMs?: number;
  signal?: AbortSignal;
}

export type DockerApiService = Service;

/** Serves the Docker API on a unix socket until the idle timeout or the signal; resolves once it listens. */
export function serveDockerApi(engine: Engine, o: DockerApiOptions): Promise<DockerApiService> {
  const router = new Router();
  systemRoutes(router);
  containerRoutes(router);
  execRoutes(router);
  imageRoutes(router);
  networkRoutes(router);
  volumeRoutes(router);
  toolRoutes(router);
  archiveRoutes(router);
  imageIoRoutes(router);
  pushRoutes(router);
  eventRoutes(router);
  return serve({ engine, router, ...o });
}
