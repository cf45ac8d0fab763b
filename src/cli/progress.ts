/** A one-line progress display on a terminal: rows, rate, clusters. Silent when not a TTY. */
export class Progress {
  private last = 0;
  private readonly start = performance.now();
  private shown = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly enabled: boolean,
  ) {}

  tick(rows: number, clusters: number): void {
    if (!this.enabled) return;
    const now = performance.now();
    if (now - this.last < 100) return;
    this.last = now;
    const rate = rows / Math.max((now - this.start) / 1000, 1e-3);
    const bar = '█'.repeat(Math.min(20, Math.floor((now - this.start) / 250) % 21)).padEnd(20, '░');
    this.out.write(`\r${bar} ${rows} tweets  ${Math.round(rate)} tweets/s  ${clusters} clusters `);
    this.shown = true;
  }

  clear(): void {
    if (!this.shown) return;
    this.out.write('\r\x1b[2K');
    this.shown = false;
  }
}
