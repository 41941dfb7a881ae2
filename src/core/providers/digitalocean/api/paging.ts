/** The largest page the API serves; fewer pages means fewer calls against the rate limit. */
export const PER_PAGE = 200;
/** A bound on any listing, so a server that always announces a next page cannot keep us looping. */
const MAX_PAGES = 500;

/** The part of a list answer that says where the listing goes on. */
export interface PageInfo {
  links?: { pages?: unknown };
  meta?: { total?: number };
}

/** The number of the page after `current` that the answer links to, or undefined when this was the last one. */
export function nextPage(info: PageInfo | undefined, current: number): number | undefined {
  const pages = info?.links?.pages;
  const next = pages && typeof pages === 'object' && 'next' in pages && typeof pages.next === 'string' ? pages.next : undefined;
  if (!next) return undefined;
  let number: number;
  try {
    number = Number(new URL(next, 'https://api.digitalocean.com').searchParams.get('page'));
  } catch {
    return undefined;
  }
  return Number.isInteger(number) && number > current ? number : undefined;
}

/**
 * Every item of a listing, page after page, until the answer has no next page, the items reach `meta.total`,
 * or a page comes back empty.
 */
export async function listAll<Item>(fetchPage: (page: number) => Promise<{ items: Item[] | undefined; info: PageInfo | undefined }>): Promise<Item[]> {
  const all: Item[] = [];
  let page: number | undefined = 1;
  for (let fetched = 0; page !== undefined && fetched < MAX_PAGES; fetched++) {
    const { items, info } = await fetchPage(page);
    if (!items || items.length === 0) break;
    all.push(...items);
    const total = info?.meta?.total;
    if (typeof total === 'number' && all.length >= total) break;
    page = nextPage(info, page);
  }
  return all;
}
