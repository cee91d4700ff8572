// berthd, the process: configuration, the socket, signals, shutdown.
export { runDaemon } from './main.js';
