/**
 * When a write committed lazily (`synchronous_commit` off) is durable, learnt from the
 * committer's own commits instead of a flush of its own.
 *
 * PostgreSQL writes and flushes its WAL in order, and a commit that waits for its flush (or
 * for a synchronous standby's) returns only once the WAL up to its commit record is on disk
 * (and on the standby). A lazy commit's record is in the WAL before that commit returns, so
 * any commit that waits for its flush and is sent after the lazy one returned covers it: its
 * record comes later. The committer's batches are such commits whenever they wrote anything
 * (`wrote`: they wrote events, so they had a transaction id and WAL of their own; a batch of
 * replays alone may write nothing and then flushes nothing). Under load one begins every few
 * milliseconds, so a background loop that commits lazily and waits here (`durableAfter`) costs
 * the ledger's commits no flush of its own: on PostgreSQL a flush of the delivery loop's beside
 * the ledger's made each of those wait for two, and on PGlite each is an fsync that blocks the
 * process. Without a commit under way, or none in time, the loop flushes itself (`flush`).
 *
 * PGlite: its lazy commits reach the disk with the next durable one, the same rule.
 */
export class CommitWatch {
  /** Commits begun so far; each one's ticket is its number. */
  private begun = 0;
  /** The committer's queue is being worked: a commit is under way or about to begin. */
  private workers = 0;
  /** The largest ticket of a commit that returned having written. */
  private durable = 0;
  private waiting: { readonly mark: number; readonly resolve: () => void }[] = [];

  /** The committer started (+1) or stopped (-1) working its queue. */
  working(delta: 1 | -1): void {
    this.workers += delta;
  }

  /** A commit is about to be sent: its ticket. */
  begin(): number {
    return ++this.begun;
  }

  /** The commit with `ticket` returned: it committed having written (`wrote`), or not (wrote nothing, rolled back, failed). */
  end(ticket: number, wrote: boolean): void {
    if (!wrote || ticket <= this.durable) return;
    this.durable = ticket;
    const due = this.waiting.filter((w) => w.mark < ticket);
    if (due.length === 0) return;
    this.waiting = this.waiting.filter((w) => w.mark >= ticket);
    for (const w of due) w.resolve();
  }

  /** Where the commits stand now: a mark for `durableAfter`, taken once the lazy write has returned. */
  mark(): number {
    return this.begun;
  }

  /**
   * Resolves true once a commit begun after `mark` has returned having written (the lazy write
   * before the mark is then durable); false at once when the committer is not working its
   * queue (no commit may come), or after `waitMs` without one: the caller must then flush itself.
   */
  durableAfter(mark: number, waitMs: number): Promise<boolean> {
    if (this.durable > mark) return Promise.resolve(true);
    if (this.workers === 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = this.waiting.filter((w) => w !== entry);
        resolve(false);
      }, waitMs);
      const entry = {
        mark,
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
      };
      this.waiting.push(entry);
    });
  }
}
