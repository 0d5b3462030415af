export const FIXTURES: string;
export const UA: string;
export interface Generated {
  path: string;
  type: string;
  body: string;
  reports: number;
}
export interface Generator {
  templates: { reportUri: Record<string, unknown>[]; reportTo: Record<string, unknown>[]; events: { event: Record<string, unknown>; policy: string }[] };
  reportUri(i: number, d?: number): string;
  reportToItem(i: number, d?: number): Record<string, unknown>;
  reportToBatch(i: number, n?: number): string;
  sdkBatch(i: number, d?: number, now?: number): string;
  mixed(i: number): Generated;
}
export function loadTemplates(): Generator['templates'];
export function createGenerator(opts?: { docs?: number; sites?: number; hosts?: number; prefix?: string; runId?: string }): Generator;
