import type { ViolationPage, ViolationRecord } from '@csp-lens/schema';

// Every record of a store or a receiver: the one walk over `/api/violations` cursor pages.

/** Reads one page of records after `cursor` (undefined: the first). */
export type PageReader = (cursor?: string) => Promise<ViolationPage>;

/** Every page, in order, walking the cursors. */
export async function allPages(read: PageReader): Promise<ViolationPage[]> {
  const pages: ViolationPage[] = [];
  let cursor: string | undefined;
  do {
    const page = await read(cursor);
    pages.push(page);
    cursor = page.next;
  } while (cursor);
  return pages;
}

/** Every record, newest first. */
export async function allRecords(read: PageReader): Promise<ViolationRecord[]> {
  return (await allPages(read)).flatMap((p) => p.items);
}

/** Pages of a receiver's read API at `url` (…/csp), with its token; throws on anything but 200. */
export function readApi(url: string, token: string, limit = 500): PageReader {
  return async (cursor) => {
    const res = await fetch(`${url}/api/violations?limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`, { headers: { authorization: `Bearer ${token}` } });
    if (res.status !== 200) throw new Error(`GET violations: ${res.status} ${await res.text()}`);
    return (await res.json()) as ViolationPage;
  };
}

/** Pages of a store, read directly. */
export const readStore = (store: { violations(q: { limit: number; cursor?: string }): Promise<ViolationPage> }, limit = 500): PageReader => (cursor) =>
  store.violations({ limit, cursor });
