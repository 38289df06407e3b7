/** Every analysis `pydbg check` knows, in the order help lists them. */
import { quoted, usageError } from '../errors.js';
import { closestTo } from '../suggest.js';
import type { Analysis } from './analysis.js';
import { leaks } from './leaks.js';
import { massif } from './massif.js';
import { memcheck } from './memcheck.js';
import { pymallocDebug } from './pymalloc-debug.js';
import { pymallocStats } from './pymalloc-stats.js';
import { rss } from './rss.js';
import { asan, ubsan } from './sanitizers.js';
import { tsan } from './tsan.js';

export const ANALYSES: readonly Analysis[] = [memcheck, leaks, massif, pymallocStats, pymallocDebug, asan, ubsan, tsan, rss];

export const ANALYSIS_NAMES: readonly string[] = ANALYSES.map((a) => a.name);

/** The analysis of that name, or undefined (reports from other pydbg versions may name unknown ones). */
export function findAnalysis(name: string): Analysis | undefined {
  return ANALYSES.find((a) => a.name === name);
}

/** The analysis of that name; a usage error naming the closest one otherwise. */
export function analysisByName(name: string): Analysis {
  const found = findAnalysis(name);
  if (found) return found;
  const guess = closestTo(name, ANALYSIS_NAMES);
  throw usageError(`unknown analysis ${quoted(name)}`, `${guess ? `did you mean '${guess}'? ` : ''}analyses: ${ANALYSIS_NAMES.join(', ')}`);
}
