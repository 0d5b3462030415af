export type Refusal = 'client' | 'all';

/**
 * Bytes of request bodies being received at once, all clients together and per client. Each upload
 * reserves what it may grow to (its Content-Length, or the body limit when chunked) before a byte is
 * buffered, so slow or stalled uploads cannot add up past `total` (measured: 350 stalled 1 MB
 * bodies held 384 MiB of RSS). One client gets at most `perClient` of it, so it cannot take the rest
 * from everyone else.
 */
export function createBodyBudget(total: number, perClient: number) {
  let used = 0;
  const byClient = new Map<string, number>();
  return {
    /** Reserves `bytes` for `client`; says who is over the budget when that does not fit. */
    take(client: string, bytes: number): Refusal | undefined {
      const mine = byClient.get(client) ?? 0;
      if (mine + bytes > perClient) return 'client';
      if (used + bytes > total) return 'all';
      used += bytes;
      byClient.set(client, mine + bytes);
      return undefined;
    },
    give(client: string, bytes: number): void {
      used -= bytes;
      const left = (byClient.get(client) ?? 0) - bytes;
      if (left > 0) byClient.set(client, left);
      else byClient.delete(client);
    },
  };
}

export type BodyBudget = ReturnType<typeof createBodyBudget>;
