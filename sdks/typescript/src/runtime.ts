/**
 * The few things that differ between Node, Deno, Bun and edge runtimes, each guarded so the
 * SDK loads everywhere: environment variables, process signals, a process id.
 */

interface NodeLikeProcess {
  env?: Record<string, string | undefined>;
  pid?: number;
  on?: (event: string, listener: () => void) => unknown;
  off?: (event: string, listener: () => void) => unknown;
}

interface DenoLike {
  env?: { get(name: string): string | undefined };
  pid?: number;
  addSignalListener?: (signal: string, listener: () => void) => void;
  removeSignalListener?: (signal: string, listener: () => void) => void;
}

const host = globalThis as { process?: NodeLikeProcess; Deno?: DenoLike };

/** An environment variable, or undefined where there is none (browsers, edge, Deno without
 * `--allow-env`). */
export function readEnv(name: string): string | undefined {
  try {
    const fromProcess = host.process?.env?.[name];
    if (fromProcess !== undefined) return fromProcess;
    return host.Deno?.env?.get(name);
  } catch {
    return undefined;
  }
}

export function processId(): number | undefined {
  return host.process?.pid ?? host.Deno?.pid;
}

export type Signal = 'SIGTERM' | 'SIGINT';

/** Call `listener` on SIGTERM and SIGINT where the runtime has signals; returns the undo. */
export function onSignals(signals: Signal[], listener: () => void): () => void {
  const undo: Array<() => void> = [];
  for (const signal of signals) {
    try {
      if (typeof host.process?.on === 'function' && typeof host.process.off === 'function') {
        const proc = host.process;
        proc.on?.(signal, listener);
        undo.push(() => proc.off?.(signal, listener));
      } else if (typeof host.Deno?.addSignalListener === 'function') {
        const deno = host.Deno;
        deno.addSignalListener?.(signal, listener);
        undo.push(() => deno.removeSignalListener?.(signal, listener));
      }
    } catch {
      // A runtime without this signal (Deno on Windows has no SIGTERM): nothing to listen to.
    }
  }
  return () => undo.forEach((fn) => fn());
}

/** Resolve after `ms`, or at once when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Exponential backoff with jitter: attempt 0 waits about `baseMs`, each next one twice as
 * long, never more than `maxMs`; the wait is drawn from [half, full] so clients spread out. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number): number {
  const full = Math.min(maxMs, baseMs * 2 ** attempt);
  return full / 2 + Math.random() * (full / 2);
}
