// SPDY/3.1 sessions (the transport of Kubernetes exec/attach/port-forward streams) and the
// HTTP/1.1 Upgrade that starts one.
export { SpdySession, SpdyStream, SpdyProtocolError } from './session.js';
export { upgradeToSpdy } from './upgrade.js';
export { RstStatus } from './frames.js';
