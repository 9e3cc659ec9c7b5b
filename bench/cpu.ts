/**
 * CPU and machine readings from /proc for the benchmarks (bench/run.ts, bench/outbox-drain.ts):
 * a process's CPU time, processes by name, a set of processes' CPU over a window, and the
 * whole machine's busy, idle and stolen time.
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

export const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** CPU seconds (user + system) a process has used, or undefined once it is gone. */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** The processes whose name (`/proc/<pid>/comm`) starts with `name`. */
export function pidsNamed(name: string): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/comm`, 'utf8').startsWith(name);
      } catch {
        return false;
      }
    });
}

/** The local PostgreSQL server's processes (its backends come and go with connections). */
export function postgresPids(): number[] {
  return pidsNamed('postgres');
}

/**
 * CPU used by a set of processes over a window, sampled: a process first seen after the
 * window opened counts from zero; one that ends counts up to its last sample.
 */
export class CpuMeter {
  private readonly first = new Map<number, number>();
  private readonly last = new Map<number, number>();
  constructor(private readonly pids: () => number[]) {
    this.sample(true);
  }
  sample(opening = false): void {
    for (const pid of this.pids()) {
      const seconds = cpuSeconds(pid);
      if (seconds === undefined) continue;
      if (!this.first.has(pid)) this.first.set(pid, opening ? seconds : 0);
      this.last.set(pid, seconds);
    }
  }
  seconds(): number {
    this.sample();
    let total = 0;
    for (const [pid, last] of this.last) total += last - this.first.get(pid)!;
    return total;
  }
}

/** The whole machine's CPU times from /proc/stat, in clock ticks: busy (all but idle and iowait), idle, stolen by the hypervisor. */
export function machineTicks(): { busy: number; idle: number; steal: number } {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = fields;
  return { busy: user + nice + system + irq + softirq + steal, idle: idle + iowait, steal };
}
