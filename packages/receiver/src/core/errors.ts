/**
 * A request the receiver refuses, with the HTTP status it is answered with and a message sent as
 * `{ "error": … }`: the client's mistake (400, 403, 413, 415), or not now (429, 503). Anything else
 * thrown while answering is the receiver's own fault: 500, and logged.
 */
export class ClientError extends Error {
  constructor(
    readonly status: 400 | 403 | 413 | 415 | 429 | 503,
    message: string,
  ) {
    super(message);
    this.name = 'ClientError';
  }
}
