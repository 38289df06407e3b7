import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where pydbg keeps downloaded sources, rendered build contexts and logs. */
export function pydbgHome(): string {
  if (process.env.PYDBG_HOME) return process.env.PYDBG_HOME;
  return join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'pydbg');
}
export const sourcesDir = () => join(pydbgHome(), 'sources');
export const buildsDir = () => join(pydbgHome(), 'builds');
export const logsDir = () => join(pydbgHome(), 'logs');
export const reportsDir = () => join(pydbgHome(), 'reports');
export const coresDir = () => join(pydbgHome(), 'cores');
