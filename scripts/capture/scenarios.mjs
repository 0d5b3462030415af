// The page loads of one capture. Names are the run-id prefixes of chromium-156 (a_uri-…, b_to-…,
// d_ro_uri-…, e_cross_…); c_both and f_sdk_* are new: a policy naming both report-uri and
// report-to (which stream does each engine use then?), and the page with the csp-lens SDK, whose
// batches and the native reports of the same page view are kept together for merge tests.
export const SCENARIOS = [
  { name: 'a_uri', mode: 'enforce', rep: 'uri', probeSend: true },
  { name: 'b_to', mode: 'enforce', rep: 'to' },
  { name: 'c_both', mode: 'enforce', rep: 'both' },
  { name: 'd_ro_uri', mode: 'ro', rep: 'uri' },
  { name: 'd_ro_to', mode: 'ro', rep: 'to' },
  { name: 'e_cross_uri', mode: 'enforce', rep: 'uri', cross: true },
  { name: 'e_cross_star', mode: 'enforce', rep: 'to', cross: true },
  { name: 'f_sdk_uri', mode: 'enforce', rep: 'uri', sdk: true },
  { name: 'f_sdk_to', mode: 'enforce', rep: 'to', sdk: true },
  { name: 'f_sdk_ro_uri', mode: 'ro', rep: 'uri', sdk: true },
];

/** The fixture folders and the loads they come from: events and report-uri from one, report-to from another. */
export const FOLDERS = [
  { dir: 'enforce', uri: 'a_uri', to: 'b_to' },
  { dir: 'report-only', uri: 'd_ro_uri', to: 'd_ro_to' },
];

/** The SDK transport probes whose request headers are kept (window.__probeSend on the a_uri load). */
export const SDK_HEADERS = [
  ['beacon-string-same', 'POST'],
  ['beacon-blobjson-same', 'POST'],
  ['beacon-string-cross-none', 'POST'],
  ['beacon-blobjson-cross-cred', 'OPTIONS'],
  ['beacon-blobjson-cross-cred', 'POST'],
  ['fetch-ka-json-same', 'POST'],
  ['fetch-ka-json-cross-star', 'OPTIONS'],
  ['fetch-ka-json-cross-star', 'POST'],
];

export const runId = (name) => `${name}-${Date.now().toString(36)}`;
