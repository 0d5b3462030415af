export { createReceiver, type Receiver, type ReceiverOptions } from './http/receiver.js';
export { startServer, type ServerConfig, type RunningServer } from './server/server.js';
export { openFileStore, type FileStoreOptions } from './store/file/index.js';
export { createNoiseFilter, DEFAULT_NOISE_RULES, hostRule, schemeRule, type NoiseRule } from './core/filter.js';
export { type Store, type StoredViolation, type IngestBatch, type RecordFilter, type ViolationQuery, type GroupQuery } from './core/types.js';
export { ClientError, ClientError as IngestError } from './core/errors.js';
export { type CoreOptions, CORE_DEFAULTS } from './core/options.js';
export { configFrom } from './server/config.js';
export { cspHeader, policyParts } from './http/csp-header.js';
