// A proposal's ticked sources as a policy: header lines and cspHeader() options. The dashboard
// client runs this too, each time a source is ticked or unticked.
import type { CspHeaderProposal, PolicyProposal, ProposedDirective, ProposedSource } from '@csp-lens/schema';
import { parsePolicy, serializePolicy, withSources, type Directives } from './csp-policy.js';
import { REDACTED_NONCE } from './csp-source.js';

/** Where a nonce placeholder stands in the header text: the server writes a fresh nonce per response. */
export const NONCE_PLACEHOLDER = "'nonce-{NONCE}'";

export type Selected = (d: ProposedDirective, s: ProposedSource) => boolean;

/** The base policy with the selected sources added; a created directive only when something is added to it. */
export function proposedDirectives(basePolicy: string | undefined, directives: ProposedDirective[], selected: Selected): Directives {
  const out: Directives = new Map([...parsePolicy(basePolicy).directives].map(([k, v]) => [k, v.slice()]));
  for (const d of directives) {
    const add = d.sources.filter((s) => selected(d, s)).flatMap((s) => [...(s.requires ?? []), s.source]);
    if (add.length) out.set(d.name, withSources(d.base, add));
  }
  return out;
}

export function assemble(
  basePolicy: string | undefined,
  directives: ProposedDirective[],
  endpoint: PolicyProposal['endpoint'],
  selected: Selected = (_, s) => s.selected,
): { header: PolicyProposal['header']; cspHeader: CspHeaderProposal } {
  const policy = proposedDirectives(basePolicy, directives, selected);
  const report = [`report-uri ${endpoint.reportUri}`, ...(endpoint.reportTo ? [`report-to ${endpoint.reportTo.group}`] : [])];
  const value = [serializePolicy(policy), ...report].filter(Boolean).join('; ').split(REDACTED_NONCE).join(NONCE_PLACEHOLDER);
  const header: PolicyProposal['header'] = {
    policy: value,
    enforce: `Content-Security-Policy: ${value}`,
    reportOnly: `Content-Security-Policy-Report-Only: ${value}`,
  };
  if (endpoint.reportTo) header.reportingEndpoints = `Reporting-Endpoints: ${endpoint.reportTo.group}="${endpoint.reportTo.url}"`;
  // cspHeader() adds a fresh nonce to script-src and style-src itself: the redacted ones go, and
  // `nonce` says whether the policy had one (a nonce switches 'unsafe-inline' off).
  let nonce = false;
  const options: CspHeaderProposal['directives'] = {};
  for (const [name, list] of policy) {
    const kept = list.filter((s) => (s === REDACTED_NONCE ? ((nonce = true), false) : true));
    options[name] = kept.length || list.length ? kept : true;
  }
  const cspHeader: CspHeaderProposal = { directives: options, reportOnly: false, reportUri: endpoint.reportUri, nonce };
  if (endpoint.reportTo) cspHeader.reportTo = { ...endpoint.reportTo };
  return { header, cspHeader };
}
