/**
 * Bounded concurrency for firewall commands that have no batch form (firewall-cmd, firewalld's
 * D-Bus calls): a few side by side, never one process per grant all at once.
 */

/** Run `fn` over `items`, at most `limit` at a time; rejects with the first failure. */
export async function inParallel<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++];
      if (item !== undefined) await fn(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
