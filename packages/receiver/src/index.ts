export { createReceiver, type Receiver, type ReceiverOptions } from './receiver.js';
export { startServer, type ServerConfig, type RunningServer } from './server.js';
export { openFileStore, type FileStoreOptions } from './store/file.js';
export { createNoiseFilter, DEFAULT_NOISE_RULES, hostRule, schemeRule, type NoiseRule } from './filter.js';
export { IngestError, type Store, type IngestBatch, type RecordFilter, type ViolationQuery, type GroupQuery } from './types.js';
export { configFrom } from './config.js';
export { cspHeader, policyParts } from './csp-header.js';
