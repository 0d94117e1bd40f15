/**
 * Deferred work: the ordering machinery behind `Backend.defer`, which data-dependent loops
 * (`whileLoop` on a device without synchronous reads) use to run an asynchronous task "between"
 * the work issued before it and the work issued after it.
 *
 * While a task is pending, every later operation (a dispatch, an upload, a copy, a read, an
 * explicit release) is queued instead of reaching the device, and the queue is replayed in
 * order when the task finishes. Callers still get their results synchronously: output buffers
 * are allocated at once, only the commands that fill them wait. The task itself reaches the
 * device through `direct(fn)`: work and reads issued inside `fn` run immediately, in the task's
 * own scope. A task issued inside another task's `direct` section (a loop nested in a loop
 * body) is deferred in that task's scope, so scopes form a tree; a task counts as finished only
 * when its function has returned and everything queued in its scope has run.
 *
 * A buffer that a queued operation uses is *pinned*: releasing it (say, because its owner was
 * garbage-collected) is postponed until the operation has run, so the pool cannot hand the
 * buffer to someone else first.
 *
 * An error thrown by a task (or by a replayed operation) is kept and handed to the runtime,
 * which throws it from the next read or sync.
 *
 * @module
 */

/** Runs a synchronous section of a deferred task straight on the device. */
export type Direct = <T>(fn: () => T) => T;

/** An asynchronous task for {@link Scheduler.defer}. */
export type DeferredTask = (direct: Direct) => Promise<void>;

interface _Scope {
  /** The task now running in this scope; while set, new work in this scope is queued. */
  active: _Task | null;
  /** Held-back work and tasks, in issue order. */
  readonly queue: _Item[];
  /** The task whose `direct` sections issue into this scope (null for the root). */
  readonly owner: _Task | null;
}

interface _Task {
  readonly run: DeferredTask;
  /** The scope of the task's own `direct` sections. */
  readonly scope: _Scope;
  /** The scope the task was issued in (and blocks). */
  readonly parent: _Scope;
  /** Set once the task's function has settled. */
  returned: boolean;
}

type _Item = { readonly kind: "op"; readonly run: () => void } | {
  readonly kind: "task";
  readonly task: _Task;
};

const _scope = (owner: _Task | null): _Scope => ({ active: null, queue: [], owner });

/** Orders work around deferred tasks (see the module doc). */
export class Scheduler {
  #root: _Scope = _scope(null);
  #cur: _Scope = this.#root;
  #pins = new Map<object, number>();
  #afterUnpin = new Map<object, () => void>();
  #error: { value: unknown } | null = null;
  #tasks = 0;

  /** Whether work issued now would be queued (a task is pending in the current scope). */
  get blocked(): boolean {
    return this.#cur.active !== null;
  }

  /** How many deferred tasks are pending (running or queued), for tests. */
  get pendingTasks(): number {
    return this.#tasks;
  }

  /**
   * Runs `op` now, or, while a task is pending in the current scope, queues it (pinning the
   * objects in `uses` until it has run).
   *
   * @param op The operation (synchronous; it records commands or starts a read).
   * @param uses The buffers the operation reads or writes.
   */
  submit(op: () => void, uses: readonly object[] = []): void {
    const s = this.#cur;
    if (!s.active) {
      op();
      return;
    }
    for (const b of uses) this.#pins.set(b, (this.#pins.get(b) ?? 0) + 1);
    s.queue.push({
      kind: "op",
      run: () => {
        try {
          op();
        } finally {
          for (const b of uses) this.#unpin(b);
        }
      },
    });
  }

  /**
   * Like {@link submit} for an operation with an asynchronous result (a read, a sync).
   *
   * @param op The operation; its synchronous part runs in order with the other work.
   * @param uses The buffers it uses.
   * @returns The operation's result, once it has run.
   */
  submitAsync<T>(op: () => Promise<T>, uses: readonly object[] = []): Promise<T> {
    if (!this.#cur.active) return op();
    return new Promise<T>((resolve, reject) => {
      this.submit(() => {
        try {
          op().then(resolve, reject);
        } catch (e) {
          reject(e);
        }
      }, uses);
    });
  }

  /**
   * Runs `task` after all work already issued in the current scope and before any work issued
   * later, which is queued until the task has finished.
   *
   * @param task The task; its `direct` sections reach the device at once.
   */
  defer(task: DeferredTask): void {
    const parent = this.#cur;
    const t: _Task = { run: task, scope: null!, parent, returned: false };
    (t as { scope: _Scope }).scope = _scope(t);
    this.#tasks++;
    if (parent.active) parent.queue.push({ kind: "task", task: t });
    else this.#start(t);
  }

  /**
   * Calls `fn` once no queued operation uses `obj` (at once, if none does).
   *
   * @param obj A buffer.
   * @param fn What to do with it (typically: return it to the pool).
   */
  whenUnused(obj: object, fn: () => void): void {
    if (this.#pins.has(obj)) this.#afterUnpin.set(obj, fn);
    else fn();
  }

  /**
   * Takes the error of a failed task or replayed operation, if any.
   *
   * @returns `{ value }` holding the error, or null.
   */
  takeError(): { value: unknown } | null {
    const e = this.#error;
    this.#error = null;
    return e;
  }

  #unpin(b: object): void {
    const n = this.#pins.get(b)! - 1;
    if (n > 0) {
      this.#pins.set(b, n);
      return;
    }
    this.#pins.delete(b);
    const fn = this.#afterUnpin.get(b);
    if (fn) {
      this.#afterUnpin.delete(b);
      fn();
    }
  }

  #fail(e: unknown): void {
    this.#error ??= { value: e };
  }

  #start(t: _Task): void {
    t.parent.active = t;
    const direct: Direct = (fn) => {
      const prev = this.#cur;
      this.#cur = t.scope;
      try {
        return fn();
      } finally {
        this.#cur = prev;
      }
    };
    let p: Promise<void>;
    try {
      p = t.run(direct);
    } catch (e) {
      p = Promise.reject(e);
    }
    Promise.resolve(p).catch((e) => this.#fail(e)).finally(() => {
      t.returned = true;
      this.#maybeFinish(t);
    });
  }

  #maybeFinish(t: _Task): void {
    if (!t.returned || t.scope.active || t.scope.queue.length) return;
    this.#tasks--;
    t.parent.active = null;
    this.#replay(t.parent);
  }

  /** Replays a scope's queue up to its next task (which starts) or its end. */
  #replay(s: _Scope): void {
    const prev = this.#cur;
    this.#cur = s;
    try {
      while (!s.active && s.queue.length) {
        const it = s.queue.shift()!;
        if (it.kind === "task") this.#start(it.task);
        else {
          try {
            it.run();
          } catch (e) {
            this.#fail(e);
          }
        }
      }
    } finally {
      this.#cur = prev;
    }
    if (!s.active && s.owner) this.#maybeFinish(s.owner);
  }
}
