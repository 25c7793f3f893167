/**
 * The render loop: level-triggered rendering, as consul-template's runner. Every template has a desired generation
 * (bumped by each new input) and a rendered one (the generation its files were last written from); a template is dirty
 * while they differ, and stays dirty until a rendering succeeds:
 *
 * - a failed rendering is retried with backoff (1 s doubling to 8 s, jittered), and at once at every new input;
 * - each template renders on its own: one rendering in flight and at most one pending per template (the pending one
 *   reads the inputs when it starts: the latest input wins), at most `concurrency` templates at once, so a slow
 *   template never delays another;
 * - holds(key) answers whether the files of some template still come from an input key (a lease id) — what its last
 *   successful rendering used, plus what a failed rendering put in place before failing (its error's `holds`) — so
 *   that a lease is not released while a file holds its credentials;
 * - close() aborts what is in flight (the render function gets the signal: dynamic exe secrets are killed) and waits
 *   at most a deadline: a shutdown is never held up by a template.
 *
 * It knows nothing of Jsonnet, files or Vault: the render function does the work and says which input keys it used.
 */
import type { Clock, TimerHandle } from '../clock.js';

export interface RenderResult {
  /** Input keys the rendering used (the lease ids of its secrets): its files hold their credentials now. */
  readonly uses: readonly string[];
}

export interface TemplateRenderStatus<T> {
  readonly template: T;
  /** False while its files are older than its inputs for longer than staleMs, or its last rendering failed. */
  readonly current: boolean;
  readonly failures: number;
  readonly lastError: string | undefined;
}

export interface RenderLoopOptions<T, R extends RenderResult> {
  readonly templates: readonly T[];
  /** Render one template from the current inputs (reads them when called). Rejects when it fails. */
  readonly render: (template: T, signal: AbortSignal) => Promise<R>;
  readonly onRendered?: (template: T, result: R) => void;
  readonly onFailed?: (template: T, err: Error, failures: number, retryInMs: number) => void;
  readonly clock: Clock;
  /** Templates rendering at once (default 4). */
  readonly concurrency?: number;
  /** First retry delay after a failure (default 1000 ms), doubling up to maxRetryMs (default 8000 ms). */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
  /** A dirty template counts as not current after this long (default 10000 ms). */
  readonly staleMs?: number;
  /** Random numbers in [0, 1) for the retry jitter (default Math.random). */
  readonly rng?: () => number;
}

interface State<R> {
  desired: number;
  rendered: number;
  running: Promise<void> | undefined;
  ac: AbortController | undefined;
  queued: boolean;
  failures: number;
  lastError: string | undefined;
  retry: TimerHandle | undefined;
  /** Clock ms since when the files are older than the inputs (undefined when clean). */
  dirtySince: number | undefined;
  uses: ReadonlySet<string>;
  last: R | undefined;
}

export class RenderLoop<T, R extends RenderResult = RenderResult> {
  readonly #opts: RenderLoopOptions<T, R>;
  readonly #states = new Map<T, State<R>>();
  /** Dirty templates waiting for a free slot, in order. */
  readonly #waiting = new Set<T>();
  readonly #concurrency: number;
  #running = 0;
  #closed = false;

  constructor(opts: RenderLoopOptions<T, R>) {
    this.#opts = opts;
    this.#concurrency = Math.max(1, opts.concurrency ?? 4);
    for (const t of opts.templates) {
      this.#states.set(t, {
        desired: 0,
        rendered: 0,
        running: undefined,
        ac: undefined,
        queued: false,
        failures: 0,
        lastError: undefined,
        retry: undefined,
        dirtySince: undefined,
        uses: new Set(),
        last: undefined,
      });
    }
  }

  /** What a template's files were rendered from before the loop started (the first rendering). */
  seed(template: T, uses: readonly string[]): void {
    const s = this.#state(template);
    s.uses = new Set(uses);
  }

  /** New inputs for these templates: render them (again). */
  invalidate(templates: Iterable<T>): void {
    if (this.#closed) return;
    for (const t of templates) {
      const s = this.#state(t);
      s.desired++;
      s.dirtySince ??= this.#opts.clock.now();
      s.retry?.cancel();
      s.retry = undefined;
      this.#enqueue(t, s);
    }
  }

  /** Whether the files of some template still hold the input `key` (its last successful rendering used it). */
  holds(key: string): boolean {
    for (const s of this.#states.values()) if (s.uses.has(key)) return true;
    return false;
  }

  /**
   * Per template: current unless its last rendering failed, or it is dirty and either overdue (staleMs) or its files
   * hold an input that is no longer valid (`valid(key)`, e.g. an expired or revoked lease).
   */
  status(valid: (key: string) => boolean = () => true): TemplateRenderStatus<T>[] {
    const now = this.#opts.clock.now();
    const staleMs = this.#opts.staleMs ?? 10_000;
    return [...this.#states].map(([template, s]) => ({
      template,
      current:
        s.failures === 0 &&
        (s.dirtySince === undefined || (now - s.dirtySince < staleMs && [...s.uses].every((k) => valid(k)))),
      failures: s.failures,
      lastError: s.lastError,
    }));
  }

  /** Resolves when nothing is in flight, waiting or due for a retry soon (tests). */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.#states.values()].map((s) => s.running).filter((p) => p !== undefined);
      if (running.length === 0 && this.#waiting.size === 0) return;
      await Promise.all(running);
      if (running.length === 0) await new Promise((r) => setImmediate(r));
    }
  }

  /**
   * Stop: no new rendering starts, retries are cancelled, renderings in flight are aborted; resolves once they
   * settled or after deadlineMs (then they are abandoned).
   */
  async close(deadlineMs: number): Promise<void> {
    this.#closed = true;
    this.#waiting.clear();
    const running: Promise<void>[] = [];
    for (const s of this.#states.values()) {
      s.retry?.cancel();
      s.retry = undefined;
      s.queued = false;
      s.ac?.abort(new Error('tconfd is stopping'));
      if (s.running !== undefined) running.push(s.running);
    }
    if (running.length === 0) return;
    const ac = new AbortController();
    await Promise.race([Promise.allSettled(running), this.#opts.clock.sleep(deadlineMs, ac.signal).catch(() => undefined)]);
    ac.abort();
  }

  #state(t: T): State<R> {
    const s = this.#states.get(t);
    if (s === undefined) throw new Error('RenderLoop: unknown template');
    return s;
  }

  #enqueue(t: T, s: State<R>): void {
    if (s.running !== undefined) {
      s.queued = true; // one pending: it reads the inputs when it starts
      return;
    }
    if (this.#running < this.#concurrency) this.#start(t, s);
    else this.#waiting.add(t);
  }

  #start(t: T, s: State<R>): void {
    this.#waiting.delete(t);
    s.queued = false;
    this.#running++;
    const generation = s.desired;
    const ac = new AbortController();
    s.ac = ac;
    s.running = (async () => {
      try {
        const result = await this.#opts.render(t, ac.signal);
        if (ac.signal.aborted) return;
        s.rendered = Math.max(s.rendered, generation);
        s.failures = 0;
        s.lastError = undefined;
        s.uses = new Set(result.uses);
        s.last = result;
        if (s.rendered >= s.desired) s.dirtySince = undefined;
        this.#opts.onRendered?.(t, result);
      } catch (err) {
        // A rendering that put some of its files in place before failing: those files hold its inputs too.
        const holds = (err as { holds?: unknown } | undefined)?.holds;
        if (Array.isArray(holds)) s.uses = new Set([...s.uses, ...holds.filter((k): k is string => typeof k === 'string')]);
        if (ac.signal.aborted) return;
        s.failures++;
        s.lastError = (err as Error)?.message ?? String(err);
        const retryInMs = this.#retryDelay(s.failures);
        this.#opts.onFailed?.(t, err as Error, s.failures, retryInMs);
        if (!this.#closed && !s.queued) {
          s.retry = this.#opts.clock.setTimer(retryInMs, () => {
            s.retry = undefined;
            if (!this.#closed) this.#enqueue(t, s);
          });
        }
      }
    })().finally(() => {
      this.#running--;
      s.running = undefined;
      s.ac = undefined;
      if (this.#closed) return;
      if (s.queued || (s.failures === 0 && s.rendered < s.desired)) this.#enqueue(t, s);
      const next = this.#waiting.values().next();
      if (!next.done && this.#running < this.#concurrency) this.#start(next.value, this.#state(next.value));
    });
  }

  #retryDelay(failures: number): number {
    const base = this.#opts.retryMs ?? 1_000;
    const max = this.#opts.maxRetryMs ?? 8_000;
    const d = Math.min(max, base * 2 ** Math.min(failures - 1, 20));
    return Math.round(d * (0.5 + 0.5 * (this.#opts.rng ?? Math.random)()));
  }
}
