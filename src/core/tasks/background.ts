/**
 * Work a service starts without waiting for it (a sandbox being made or destroyed, a task being
 * watched). Its stop waits for all of it, so a stopped scheduler leaves nothing half-done behind.
 */
export class BackgroundWork {
  private readonly pending = new Set<Promise<void>>();

  /** Tracks `work` until it settles; returns it unchanged (its failure is still the caller's to handle). */
  track<T>(work: Promise<T>): Promise<T> {
    const settled: Promise<void> = work.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.finally(() => this.pending.delete(settled));
    return work;
  }

  /** Resolves once everything tracked has settled, including work started meanwhile. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all([...this.pending]);
  }
}
