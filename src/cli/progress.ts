/**
 * A one-line progress display on a terminal: how far through the file (when its size is known),
 * rows, rate, clusters. Redrawn at most ten times a second; silent when not a TTY.
 */
export class Progress {
  private last = 0;
  private readonly start = performance.now();
  private shown = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly enabled: boolean,
  ) {}

  /** `done` is the fraction of the input read, or undefined when unknown (stdin). */
  tick(rows: number, clusters: number, done?: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.last < 100) return;
    this.last = now;
    const rate = rows / Math.max((now - this.start) / 1000, 1e-3);
    let bar = '';
    if (done !== undefined) {
      const f = Math.min(1, Math.max(0, done));
      const full = Math.round(f * 20);
      bar = `${'█'.repeat(full)}${'░'.repeat(20 - full)} ${String(Math.floor(f * 100)).padStart(3)}%  `;
    }
    this.out.write(`\r${bar}${rows} tweets  ${Math.round(rate)} tweets/s  ${clusters} clusters `);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.out.write('\r\x1b[2K');
    this.shown = false;
  }
}
