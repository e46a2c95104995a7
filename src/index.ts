/**
 * wasmsocket's public API: everything a user imports comes from here (`import { listen } from
 * 'wasmsocket'`); no path under dist/ is an import path of its own.
 */
export { listen, WasmSocketServer, DEFAULTS } from './main-thread/server.js';
export type { ServerOptions, ServerStats, AuthorizeResult } from './main-thread/server.js';
export type { Application, Connection, PubSubRefusal, UpgradeRequest, AuthorizeVerdict, AuthorizeHook, HttpPage,
  SubscribeOptions, MessagePublishOptions, JoinAnswer, StreamPosition, HistoryQuery, HistoryReply, HistoryEntry,
} from './apps/app.js';
export { default as pubsub } from './apps/pubsub.js';
export { loadApplication } from './apps/app.js';
export { CloseCode, isValidWireCloseCode } from './protocol/close-codes.js';
export { ProtocolError, HandshakeError } from './protocol/errors.js';
export { WebSocketProtocol, Opcode } from './protocol/protocol.js';
export type { ProtocolSink, FrameSink, ProtocolOptions, Role, Utf8ValidatorChoice } from './protocol/protocol.js';
export { createCodec } from './codec/select.js';
export type { CodecKind, FrameCodec } from './codec/codec.js';
export { topicError } from './pubsub/topics.js';
export type { SlowSubscriberPolicy } from './pubsub/broker.js';
