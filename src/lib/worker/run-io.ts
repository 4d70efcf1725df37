/**
 * A run's reads and writes, kept off the path from one item to the next.
 *
 * - Inputs are read a store record ahead, with the tries stored for them, so starting an
 *   item reads nothing most of the time.
 * - What the run writes (attempts begun, results, run-log lines, the progress) is
 *   grouped: one transaction is under way at a time, and everything asked for while
 *   it runs goes into the next. Each write's promise settles when its transaction
 *   completed, so a result is reported saved only once it is on disk. An attempt
 *   whose result joins the same group is not written apart: the result records it.
 *
 * The engine's next item starts while the last one's result is written. An item whose
 * result was not yet written when the worker died runs again on resume, as an item in
 * flight does; results are keyed by index, so nothing is doubled.
 */
import type { ItemInput, ItemTries, JobProgress } from '$lib/shared/job';
import type { ItemError } from '$lib/shared/stop';
import {
  ATTEMPT_SCOPES,
  INPUT_CHUNK,
  type AttemptScope,
  type RunWrite,
  type StoredTries
} from '$lib/store/jobs';

/** The parts of the store this needs. */
export interface RunIOStore {
  readAhead(
    jobId: string,
    from: number,
    to: number
  ): Promise<{
    inputs: ItemInput[];
    tries: StoredTries[];
  }>;
  writeRun(jobId: string, write: RunWrite): Promise<void>;
}

/**
 * Transactions start at most this often by default: a browser manages about 1,000 a second
 * on an idle machine, and each costs CPU the engine needs. A result waits this long at most.
 */
const WRITE_EVERY_MS = 20;
/** Results waiting for their transaction before a unit waits for it (a slow disk holds the run). */
const MAX_BACKLOG = 512;

const NO_TRIES: ItemTries = { count: 0, lastError: null };

function key(index: number, scope: AttemptScope): string {
  return `${scope}:${index}`;
}

interface Group {
  write: RunWrite;
  done: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

function newGroup(): Group {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const done = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // A write nobody waits for (an attempt begun) must not be an unhandled rejection.
  // eslint-disable-next-line no-restricted-syntax -- every waiter gets the rejection from `done`; an attempt begun has no waiter
  done.catch(() => undefined);
  return { write: { results: [], tries: [], log: [], progress: null }, done, resolve, reject };
}

export class RunIO {
  readonly #store: RunIOStore;
  readonly #jobId: string;
  #chunk: {
    from: number;
    to: number;
    inputs: Map<number, ItemInput>;
    tries: Map<string, ItemTries>;
  } | null = null;
  /** Tries changed in this run for items not finished yet (newer than any read). */
  #touched = new Map<string, ItemTries>();
  #pending: Group | null = null;
  #writing: Promise<void> | null = null;
  #failed: { error: unknown } | null = null;
  /** When the last transaction started. */
  #lastWrite = -Infinity;

  readonly #writeEveryMs: number;

  constructor(store: RunIOStore, jobId: string, writeEveryMs = WRITE_EVERY_MS) {
    this.#store = store;
    this.#jobId = jobId;
    this.#writeEveryMs = writeEveryMs;
  }

  /**
   * The inputs at `indices` (read ahead from the first), and a reader of their tries
   * as they stand in this run.
   */
  async items(
    indices: readonly number[]
  ): Promise<{ inputs: ItemInput[]; tries: (index: number, scope: AttemptScope) => ItemTries }> {
    const low = Math.min(...indices);
    const high = Math.max(...indices);
    let chunk = this.#chunk;
    if (!chunk || low < chunk.from || high >= chunk.to) {
      // Whole records of the store (INPUT_CHUNK inputs each), so none is read twice.
      const from = low - (low % INPUT_CHUNK);
      const to = Math.max(from + INPUT_CHUNK, high + 1);
      const read = await this.#store.readAhead(this.#jobId, from, to);
      chunk = {
        from,
        to,
        inputs: new Map(read.inputs.map((input) => [input.index, input])),
        tries: new Map(read.tries.map((t) => [key(t.index, t.scope), t.tries]))
      };
      this.#chunk = chunk;
    }
    const inputs = indices.map((index) => {
      const input = chunk.inputs.get(index);
      if (!input) throw new Error(`Item ${index + 1} is missing from the job's store.`);
      return input;
    });
    const { tries } = chunk;
    return {
      inputs,
      tries: (index, scope) =>
        this.#touched.get(key(index, scope)) ?? tries.get(key(index, scope)) ?? NO_TRIES
    };
  }

  /** Counts an attempt beginning (written with the next group, not waited for). */
  attempt(index: number, scope: AttemptScope, before: ItemTries): ItemTries {
    const tries = { count: before.count + 1, lastError: before.lastError };
    this.#touched.set(key(index, scope), tries);
    // eslint-disable-next-line @typescript-eslint/no-floating-promises -- not waited for: the result records the attempt, and a failed write fails the next one
    void this.write({ tries: [{ index, scope, tries }] });
    return tries;
  }

  /** Remembers why the latest attempt failed: the tries to write. */
  failed(index: number, scope: AttemptScope, error: ItemError, before: ItemTries): StoredTries {
    const tries = { count: before.count, lastError: error };
    this.#touched.set(key(index, scope), tries);
    return { index, scope, tries };
  }

  /** The item has its result: what this run counted of its tries is on its way to disk. */
  settle(index: number): void {
    for (const scope of ATTEMPT_SCOPES) this.#touched.delete(key(index, scope));
  }

  /**
   * Adds to the next group; resolves when its transaction completed. After a failed
   * write every later one fails too (the run stops: nothing is written out of order).
   */
  write(part: Partial<RunWrite> & { progress?: JobProgress | null }): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed.error);
    const group = (this.#pending ??= newGroup());
    const { write } = group;
    if (part.results?.length) {
      write.results.push(...part.results);
      // A result carries its attempts: tries of its item still waiting in this group
      // would be written in the same transaction for nothing (one put less per item).
      const settled = new Set(part.results.map((result) => result.index));
      write.tries = write.tries.filter((t) => !settled.has(t.index));
    }
    if (part.tries) write.tries.push(...part.tries);
    if (part.log) write.log.push(...part.log);
    if (part.progress) write.progress = part.progress;
    // Started from a task of its own: building the transaction (the values are copied
    // then) happens while the engine works on the next item, not before it starts. When
    // items finish faster than the spacing, their writes gather into one transaction.
    if (!this.#writing) {
      const wait = Math.max(0, this.#lastWrite + this.#writeEveryMs - performance.now());
      this.#writing = new Promise<void>((resolve) => setTimeout(resolve, wait)).then(() =>
        this.#flush()
      );
    }
    return group.done;
  }

  /** Waits when many results wait for their transaction (a slow disk); else returns at once. */
  async backpressure(): Promise<void> {
    const pending = this.#pending;
    if (pending && pending.write.results.length >= MAX_BACKLOG) await pending.done;
  }

  /** Resolves when everything asked for is written (or failed). */
  async drained(): Promise<void> {
    while (this.#writing) await this.#writing;
  }

  async #flush(): Promise<void> {
    try {
      while (this.#pending) {
        const group = this.#pending;
        this.#pending = null;
        if (this.#failed) {
          group.reject(this.#failed.error);
          continue;
        }
        try {
          this.#lastWrite = performance.now();
          await this.#store.writeRun(this.#jobId, group.write);
          group.resolve();
        } catch (error) {
          this.#failed = { error };
          group.reject(error);
        }
      }
    } finally {
      this.#writing = null;
    }
  }
}
