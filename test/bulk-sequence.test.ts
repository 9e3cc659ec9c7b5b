/**
 * committer/sequence.ts's `runEach` decision, with a stand-in committer: once a command of a
 * non-atomic sequence failed or its outcome is unknown, the later steps are neither run nor
 * stored (a retry of the request runs them), so no refusal met against a state that may lack
 * the failed command's effect is stored under their keys.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Command, Committer } from '../src/committer/committer.ts';
import { runEach, type SequenceItem } from '../src/committer/sequence.ts';
import type { Reads } from '../src/domain/batch.ts';
import { INSTANT_MIN } from '../src/domain/time.ts';
import { replyForError } from '../src/http/errors.ts';

/** An operation naming wallet `w1` and not moving money: each one is a step of its own. */
function item(key: string): SequenceItem {
  const command = { operation: 'updateWallet', principal: null, params: {}, body: {}, command: { reads: (reads: Reads) => reads.wallets.add('w1') } };
  return { key, command: command as unknown as Command<unknown>, movesMoney: false };
}

describe('bulk sequence, not atomic', () => {
  for (const failure of ['throws', 'unknown'] as const) {
    it(`after a command that ${failure === 'throws' ? 'fails (5xx)' : 'has an unknown outcome'}, the later steps are not run`, async () => {
      const ran: string[] = [];
      const run = (async (key: string | undefined) => {
        ran.push(key!);
        if (key === 'k2') {
          if (failure === 'throws') throw new Error('the database failed');
          return { kind: 'unknown', message: 'lost' };
        }
        return { kind: 'executed', outcome: { status: 204, body: null } };
      }) as unknown as Committer;
      const answers = await runEach(run, () => INSTANT_MIN + 1_700_000_000_000_000n, ['k1', 'k2', 'k3', 'k4'].map(item));
      assert.deepEqual(ran, ['k1', 'k2'], 'k3 and k4 neither run nor stored');
      assert.deepEqual(answers.map((answer) => answer.kind), ['executed', failure === 'throws' ? 'failed' : 'unknown', 'notRun', 'notRun']);
    });
  }
});

describe('bulk sequence, atomic', () => {
  it('a lock cycle whose retries ran out (SQLSTATE 40P01, thrown by runAtomic) is a 503 with retry advice, not a 500', () => {
    const deadlock = Object.assign(new Error('deadlock detected'), { code: '40P01' });
    const reply = replyForError(deadlock);
    assert.equal(reply.status, 503);
    const body = JSON.parse(reply.body) as { errorCode: string; errorMessage: string };
    assert.equal(body.errorCode, 'SERVICE_UNAVAILABLE');
    assert.match(body.errorMessage, /was not applied; retry it/);
  });
});
