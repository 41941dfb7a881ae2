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
    const deadline = Date.now() + limitMs;
    while (this.pending.size > 0) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = Number.isFinite(left) ? new Promise<void>((resolve) => (timer = setTimeout(resolve, left))) : new Promise<void>(() => undefined);
      await Promise.race([Promise.all([...this.pending]), timedOut]);
      clearTimeout(timer);
    }
    return true;
  }
}
