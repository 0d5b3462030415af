export type * from './wire.js';
export type * from './record.js';
export type * from './advice.js';
