/**
 * The deployment files in deploy/: the systemd unit passes `systemd-analyze verify` with no
 * warning (a broken copy of it does not, so the check is real), and the environment file holds
 * only settings Coffer knows, each valid (loadConfig takes them as they are).
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { loadConfig, SETTINGS } from '../src/config.ts';

const UNIT = fileURLToPath(new URL('../deploy/coffer.service', import.meta.url));
const ENV_FILE = fileURLToPath(new URL('../deploy/coffer.env', import.meta.url));

function verify(path: string): { code: number | null; output: string } {
  const run = spawnSync('systemd-analyze', ['verify', path], { encoding: 'utf8' });
  return { code: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('deployment files', () => {
  it('deploy/coffer.service passes systemd-analyze verify with no warning; a broken copy does not', () => {
    execFileSync('systemd-analyze', ['--version']);
    const clean = verify(UNIT);
    assert.equal(clean.code, 0, clean.output);
    assert.equal(clean.output.trim(), '', 'no warning');
    const dir = mkdtempSync(join(tmpdir(), 'coffer-unit-'));
    try {
      const broken = join(dir, 'coffer.service');
      writeFileSync(broken, readFileSync(UNIT, 'utf8').replace('Restart=on-failure', 'Restart=sometimes'));
      assert.match(verify(broken).output, /Failed to parse service restart specifier/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('deploy/coffer.env holds only known settings, each valid', () => {
    const env: Record<string, string> = {};
    for (const line of readFileSync(ENV_FILE, 'utf8').split('\n')) {
      if (line.trim() === '' || line.startsWith('#')) continue;
      const match = /^([A-Z_]+)=(.*)$/.exec(line);
      assert.ok(match, `an assignment: ${line}`);
      assert.ok(match[1]! in SETTINGS, `${match[1]} is a setting of docs/configuration.md`);
      env[match[1]!] = match[2]!;
    }
    const config = loadConfig(env);
    assert.equal(config.auth.mode, 'required');
    assert.equal(config.databaseSchema, undefined, 'unset: a new install uses coffer, one from before the setting keeps public');
    assert.match(config.databaseUrl ?? '', /,.*target_session_attrs=read-write/);
  });
});
