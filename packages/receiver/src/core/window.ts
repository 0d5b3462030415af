import type { ViolationRecord } from '@csp-lens/schema';

interface Entry {
  r: ViolationRecord;
  bytes: number;
  client: Client;
}

interface Client {
  key: string;
  entries: Map<string, Entry>;
  bytes: number;
  /** Stands at this client's oldest entry (see `oldest`). */
  cursor?: Iterator<Entry>;
}

/**
 * The live records in insertion order, with their sizes, shared fairly between clients: when the
 * window is over its bounds, the record to let go is the oldest of the client holding the most
 * (records when over the count, bytes when over the bytes), so one sender flooding the receiver
 * pushes out its own records, not everyone's. A client is a record's `clientIp` as stored (a /24 or
 * /48 by default; with `--ip-mode none` every record is one client: then oldest first).
 */
export function createWindow() {
  const records = new Map<string, Entry>();
  const clients = new Map<string, Client>();
  // Clients by how many records they hold: the most crowded is found without a scan.
  const levels = new Map<number, Set<Client>>();
  let top = 0;
  let bytes = 0;

  const level = (c: Client, from: number, to: number) => {
    if (from) {
      const set = levels.get(from)!;
      set.delete(c);
      if (!set.size) levels.delete(from);
    }
    if (to) levels.get(to)?.add(c) ?? levels.set(to, new Set([c]));
    if (to > top) top = to;
    while (top && !levels.has(top)) top--;
  };

  function remove(id: string): ViolationRecord | undefined {
    const e = records.get(id);
    if (!e) return undefined;
    records.delete(id);
    const c = e.client;
    c.entries.delete(id);
    c.bytes -= e.bytes;
    bytes -= e.bytes;
    level(c, c.entries.size + 1, c.entries.size);
    if (!c.entries.size) clients.delete(c.key);
    return e.r;
  }

  /**
   * A client's oldest entry. One iterator per client for its life instead of a new one per call,
   * which would step over every entry deleted since V8 last compacted the Map (thousands, at the
   * front, once eviction runs). Everything it has passed was taken out, and re-inserted entries go
   * to the end, so it always stands at the oldest.
   */
  function oldest(c: Client): Entry {
    let next = (c.cursor ??= c.entries.values()).next();
    if (next.done) next = (c.cursor = c.entries.values()).next();
    return next.value!;
  }

  /** The client holding the most bytes: a scan, only ever needed over the bytes budget. */
  function heaviest(): Client {
    let best: Client | undefined;
    for (const c of clients.values()) if (!best || c.bytes > best.bytes) best = c;
    return best!;
  }

  return {
    get size(): number {
      return records.size;
    },
    get bytes(): number {
      return bytes;
    },
    get(id: string): ViolationRecord | undefined {
      return records.get(id)?.r;
    },
    has: (id: string) => records.has(id),
    values: function* (): IterableIterator<ViolationRecord> {
      for (const e of records.values()) yield e.r;
    },
    /** Adds a record, or replaces the one with its id in place (its position stays). */
    set(r: ViolationRecord, size: number): void {
      const key = r.clientIp ?? '';
      const had = records.get(r.id);
      if (had && had.client.key !== key) remove(r.id);
      else if (had) {
        had.client.bytes += size - had.bytes;
        bytes += size - had.bytes;
        had.r = r;
        had.bytes = size;
        had.client.entries.set(r.id, had);
        return;
      }
      let c = clients.get(key);
      if (!c) clients.set(key, (c = { key, entries: new Map(), bytes: 0 }));
      const e: Entry = { r, bytes: size, client: c };
      records.set(r.id, e);
      c.entries.set(r.id, e);
      c.bytes += size;
      bytes += size;
      level(c, c.entries.size - 1, c.entries.size);
    },
    delete: remove,
    /** The record to let go next: the oldest of the client with the most records, or bytes. */
    victim(by: 'count' | 'bytes'): ViolationRecord | undefined {
      if (!records.size) return undefined;
      const c = by === 'count' ? levels.get(top)!.values().next().value! : heaviest();
      return oldest(c).r;
    },
  };
}

export type LiveWindow = ReturnType<typeof createWindow>;
