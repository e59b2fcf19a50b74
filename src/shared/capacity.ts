/**
 * What this process may use: CPUs (affinity and cgroup quota aware) and memory
 * (cgroup limit aware). Used for the default budget, as nipype's defaults do,
 * but without nipype's blindness to containers and batch allocations.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism, totalmem } from 'node:os';

/** Largest thread count a node or a budget may declare. */
export const MAX_N_PROCS = 1_000_000;
/** Largest memory in GB a node or a budget may declare: 1 PiB. */
export const MAX_MEM_GB = 1_048_576;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** cgroup v2 `cpu.max` ("max 100000" or "200000 100000"), else v1 quota/period. */
function cgroupCpuLimit(): number | undefined {
  const v2 = readText('/sys/fs/cgroup/cpu.max');
  if (v2 !== undefined) {
    const [quota, period] = v2.split(/\s+/);
    if (quota !== undefined && quota !== 'max' && period !== undefined) {
      const q = Number(quota);
      const p = Number(period);
      if (q > 0 && p > 0) return q / p;
    }
    return undefined;
  }
  const q = Number(readText('/sys/fs/cgroup/cpu/cpu.cfs_quota_us'));
  const p = Number(readText('/sys/fs/cgroup/cpu/cpu.cfs_period_us'));
  return q > 0 && p > 0 ? q / p : undefined;
}

/** cgroup v2 `memory.max`, else v1 `memory.limit_in_bytes`, in bytes. */
function cgroupMemoryLimit(): number | undefined {
  for (const path of ['/sys/fs/cgroup/memory.max', '/sys/fs/cgroup/memory/memory.limit_in_bytes']) {
    const text = readText(path);
    if (text === undefined || text === 'max') continue;
    const bytes = Number(text);
    // v1 reports "no limit" as a huge number.
    if (Number.isFinite(bytes) && bytes > 0 && bytes < 2 ** 60) return bytes;
  }
  return undefined;
}

/** CPUs available to this process: affinity mask, capped by the cgroup quota (at least 1). */
export function availableCpus(): number {
  const affinity = availableParallelism();
  const quota = cgroupCpuLimit();
  const cpus = quota !== undefined ? Math.min(affinity, Math.ceil(quota)) : affinity;
  return Math.max(1, cpus);
}

/** Memory this process may use, in GB: physical memory capped by the cgroup limit. */
export function availableMemoryGb(): number {
  const total = totalmem();
  const limit = cgroupMemoryLimit();
  const bytes = limit !== undefined ? Math.min(total, limit) : total;
  return bytes / 1024 ** 3;
}

/** The default memory budget: 90% of {@link availableMemoryGb}, as nipype's `memory_gb`. */
export function defaultMemoryBudgetGb(): number {
  return Math.floor(availableMemoryGb() * 0.9 * 100) / 100;
}
