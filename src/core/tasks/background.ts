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

  /**
   * Resolves true once everything tracked has settled, including work started meanwhile; false
   * when `limitMs` passed first.
   */
  async settled(limitMs = Infinity): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    // One deadline for the whole wait; without a limit it never comes.
    const expired = new Promise<'expired'>((resolve) => {
      if (Number.isFinite(limitMs)) timer = setTimeout(() => resolve('expired'), limitMs);
    });
    try {
      while (this.pending.size > 0) {
        if ((await Promise.race([Promise.all([...this.pending]), expired])) === 'expired') return false;
      }
      return true;
    } finally {
      clearTimeout(timer);
    }
  }
}
