// Whether the Slurm integration tests can run here, and if not, why: sinfo's
// answer, and what `scripts/setup.sh --slurm` recorded when it could not
// start the local cluster (node_modules/.thaw-slurm).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { probeCluster } from '../../src/study/slurm.js';

/** The line `scripts/setup.sh --slurm` writes: `ready …` or `unavailable: <why>`. */
export const SETUP_STATE = fileURLToPath(new URL('../../../../node_modules/.thaw-slurm', import.meta.url));

/** A cluster to test against, or the reason there is none. */
export interface SlurmTestCluster {
  ready: boolean;
  reason: string | null;
}

export async function slurmTestCluster(): Promise<SlurmTestCluster> {
  // A stopped controller makes sinfo retry for ~10 s before it gives up.
  const probe = await probeCluster({ timeoutMs: 30_000 });
  if (probe.ready) return { ready: true, reason: null };
  let setup: string | null = null;
  try {
    setup = readFileSync(SETUP_STATE, 'utf8').trim();
  } catch {
    // no set-up ran here with --slurm
  }
  const reason = setup?.startsWith('unavailable')
    ? `${setup.replace(/^unavailable:\s*/, '')} (sinfo: ${probe.reason})`
    : `no Slurm cluster answers (${probe.reason}); start the local one: sudo bash scripts/slurm/start-local-slurm.sh, or npm test's set-up (bash scripts/setup.sh --slurm)`;
  return { ready: false, reason };
}
