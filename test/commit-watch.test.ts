/**
 * The commit watch (committer/commit-watch.ts): a lazily committed write is taken as durable
 * only once a commit begun after it returned having written; without the committer at work,
 * or without such a commit in time, the caller is told to flush itself.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CommitWatch } from '../src/committer/commit-watch.ts';

describe('commit watch', () => {
  it('with the committer not at work, no commit may come: the caller flushes at once', async () => {
    const watch = new CommitWatch();
    const started = Date.now();
    assert.equal(await watch.durableAfter(watch.mark(), 5_000), false);
    assert.ok(Date.now() - started < 1_000, 'at once, not after the wait');
  });

  it('only a commit begun after the mark, and one that wrote, covers what came before the mark', async () => {
    const watch = new CommitWatch();
    watch.working(1);
    const before = watch.begin();
    const mark = watch.mark();
    let covered: boolean | undefined;
    const waiting = watch.durableAfter(mark, 5_000).then((result) => (covered = result));
    // A commit begun before the mark ends: its record may come before the lazy write's.
    watch.end(before, true);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(covered, undefined, 'not covered by a commit begun before the mark');
    // One begun after that wrote nothing flushed nothing.
    const empty = watch.begin();
    watch.end(empty, false);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(covered, undefined, 'not covered by a commit that wrote nothing');
    const after = watch.begin();
    watch.end(after, true);
    assert.equal(await waiting, true);
    // Later marks before that commit's ticket are covered at once; a new mark is not.
    assert.equal(await watch.durableAfter(mark, 5_000), true);
    let next: boolean | undefined;
    void watch.durableAfter(watch.mark(), 30).then((result) => (next = result));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(next, false, 'without a later commit, the wait ends and the caller flushes itself');
    watch.working(-1);
  });

  it('commits ending out of order (batches in flight at once): the largest ticket that wrote counts, and each waiter is answered once', async () => {
    const watch = new CommitWatch();
    watch.working(1);
    watch.working(1);
    const mark = watch.mark();
    const a = watch.begin();
    const b = watch.begin();
    const results: boolean[] = [];
    const first = watch.durableAfter(mark, 5_000).then((result) => results.push(result));
    const laterMark = watch.mark();
    const second = watch.durableAfter(laterMark, 200).then((result) => results.push(result));
    watch.end(b, true);
    await first;
    watch.end(a, true);
    await second;
    assert.deepEqual(results, [true, false], 'the second mark was taken after both began: neither covers it');
    watch.working(-1);
    watch.working(-1);
  });
});
