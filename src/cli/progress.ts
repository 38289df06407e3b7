import type { BuildEvent } from '../engine/buildstream.js';
import type { Progress } from '../provision/variant.js';

/**
 * Progress on stderr: the current build step, elapsed time and the last output line. On a TTY one
 * status line is redrawn; otherwise a line per step and a heartbeat every 30 s (CI logs stay short).
 */
export class StderrProgress implements Progress {
  private readonly tty: boolean;
  private readonly started = Date.now();
  private phaseName = '';
  private step = '';
  private last = '';
  private timer: NodeJS.Timeout | undefined;
  private lastBeat = Date.now();
  private drawn = false;

  constructor(
    private readonly out: NodeJS.WriteStream = process.stderr,
    private readonly quiet = false,
  ) {
    this.tty = Boolean(out.isTTY) && process.env.CI !== 'true';
  }

  log(msg: string): void {
    if (this.quiet) return;
    this.clear();
    this.out.write(`pydbg: ${msg}\n`);
    this.draw();
  }

  phase(name: string): void {
    this.phaseName = name;
    this.step = '';
    this.last = '';
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), 1000);
      this.timer.unref();
    }
    if (!this.tty && !this.quiet) this.out.write(`pydbg: [${elapsed(this.started)}] ${name}\n`);
    this.draw();
  }

  event(ev: BuildEvent): void {
    // LABEL steps are metadata the engine appends for the provenance labels: instant, not progress.
    if (ev.type !== 'step' || ev.instruction.startsWith('LABEL ')) return;
    this.step = `step ${ev.index}/${ev.total} ${oneLine(ev.instruction, 60)}`;
    if (!this.tty && !this.quiet) this.out.write(`pydbg: [${elapsed(this.started)}] ${this.phaseName}: ${this.step}\n`);
    this.draw();
  }

  output(line: string): void {
    // build output carries terminal colours (make, gcc, pip): the status line shows text only
    const text = line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
    if (text.trim()) this.last = text;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.clear();
  }

  private tick(): void {
    if (this.quiet) return;
    if (this.tty) return this.draw();
    if (Date.now() - this.lastBeat >= 30_000) {
      this.lastBeat = Date.now();
      this.out.write(`pydbg: [${elapsed(this.started)}] ${this.phaseName}${this.step ? `: ${this.step}` : ''} … ${oneLine(this.last, 100)}\n`);
    }
  }

  private draw(): void {
    if (!this.tty || this.quiet || !this.phaseName) return;
    const cols = this.out.columns ?? 100;
    const text = `[${elapsed(this.started)}] ${this.phaseName}${this.step ? ` · ${this.step}` : ''}${this.last ? ` · ${oneLine(this.last, 200)}` : ''}`;
    this.out.write(`\r\x1b[2K${text.slice(0, cols - 1)}`);
    this.drawn = true;
  }

  private clear(): void {
    if (this.tty && this.drawn) {
      this.out.write('\r\x1b[2K');
      this.drawn = false;
    }
  }
}

export function elapsed(since: number): string {
  const s = Math.floor((Date.now() - since) / 1000);
  return `${String(Math.floor(s / 60)).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
}

function oneLine(s: string, n: number): string {
  const t = s.replace(/\s+/g, ' ').trim();
  return t.length > n ? `${t.slice(0, n - 1)}…` : t;
}
