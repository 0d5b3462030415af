/** The read token of every receiver the benchmarks and the torture tests start. */
export const TOKEN: string;
import type { ChildProcess } from 'node:child_process';
export const ROOT: string;
export const CLI: string;
export interface Started {
  child: ChildProcess;
  pid: number;
  url: string;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  kill(): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(graceMs?: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}
export function startProcess(args: string[], opts?: { ready?: RegExp; env?: Record<string, string>; timeoutMs?: number; nodeArgs?: string[] }): Promise<Started>;
export function startReceiver(db: string, opts?: { maxRecords?: number; rateLimit?: number; extra?: string[]; env?: Record<string, string>; nodeArgs?: string[] }): Promise<Started>;
export function startJournalReceiver(db: string, opts?: { maxRecords?: number; rateLimit?: number; checkpointMs?: number; nodeArgs?: string[] }): Promise<Started>;
export function runLoad(opts: Record<string, unknown>, onLine?: (line: Record<string, number>) => void): Promise<Record<string, number>[]>;
export function memoryOf(pid: number): { rss: number; peak: number };
export function sizeOf(file: string): number;
export function median(xs: number[]): number;
export function quantile(xs: number[], q: number): number;
