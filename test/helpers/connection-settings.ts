/** A connection server's settings as listen() makes them from its defaults, for tests that build one directly. */
import { DEFAULTS } from '../../src/server/server.js';
import type { ConnectionSettings } from '../../src/server/connection-server.js';

export function connectionSettings(overrides: Partial<ConnectionSettings> = {}): ConnectionSettings {
  return {
    codec: DEFAULTS.codec, utf8Validator: DEFAULTS.utf8Validator, maxPayload: DEFAULTS.maxPayload, subprotocols: [],
    deflate: undefined, origins: [], handshakeTimeoutMs: DEFAULTS.handshakeTimeoutMs, maxHeaderBytes: DEFAULTS.maxHeaderBytes,
    closeTimeoutMs: DEFAULTS.closeTimeoutMs, highWaterMark: DEFAULTS.highWaterMark, maxBufferedBytes: DEFAULTS.maxBufferedBytes,
    maxInflateBytes: DEFAULTS.maxInflateBytes, slowSubscriberBytes: DEFAULTS.slowSubscriberBytes, slowPolicy: DEFAULTS.slowPolicy,
    maxSubscriptions: DEFAULTS.maxSubscriptions, maxTotalSubscriptions: DEFAULTS.maxTotalSubscriptions,
    maxSubscriptionsPerIp: DEFAULTS.maxSubscriptionsPerIp, topicsPublic: DEFAULTS.topicsPublic,
    pingIntervalMs: DEFAULTS.pingIntervalMs, pingTimeoutMs: DEFAULTS.pingTimeoutMs, idleTimeoutMs: DEFAULTS.idleTimeoutMs,
    idleCollectAfter: DEFAULTS.idleCollectAfter,
    ...overrides,
  };
}
