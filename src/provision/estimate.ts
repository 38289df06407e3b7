/**
 * Before a run builds a missing variant image: what is missing and about how long it takes, from
 * the catalogue's minutes (BUILD_MINUTES, LAYER_MINUTES) and the shared layers already present.
 * Looks only (inspects tags); builds nothing.
 */
import { BUILD_MINUTES, LAYER_MINUTES } from '../catalogue/arch.js';
import { baseRef, buildPythonRef, depsRef, xbuildRef } from '../container/refs.js';
import type { Engine } from '../engine/engine.js';
import type { VariantPlan } from '../project/plan.js';
import { declaredSha256 } from './sources.js';

export interface BuildEstimate {
  /** minutes, low and high */
  minutes: [number, number];
  /** the shared layers this build also makes, with their minutes */
  layers: Array<{ what: string; minutes: number }>;
}

export async function estimateBuild(engine: Pick<Engine, 'inspectImage'>, plan: VariantPlan): Promise<BuildEstimate> {
  const layers: BuildEstimate['layers'] = [];
  const has = async (ref: string) => Boolean(await engine.inspectImage(ref));
  const emulatedTarget = plan.arch.name !== plan.host.name;
  if (!(await has(baseRef(plan.arch))) || !(await has(depsRef(plan.arch)))) {
    layers.push({ what: `the ${plan.arch.name} base and toolchain layers${emulatedTarget ? ' (under QEMU)' : ''}`, minutes: emulatedTarget ? LAYER_MINUTES.emulated : LAYER_MINUTES.native });
  }
  if (plan.mode === 'cross') {
    if (!(await has(baseRef(plan.host))) || !(await has(depsRef(plan.host)))) layers.push({ what: `the ${plan.host.name} base and toolchain layers`, minutes: LAYER_MINUTES.native });
    if (!(await has(xbuildRef(plan.host)))) layers.push({ what: 'the cross toolchain layer', minutes: LAYER_MINUTES.xbuild });
    const sha = declaredSha256(plan.source);
    if (!sha || !(await has(buildPythonRef(plan.host, plan.version, sha)))) layers.push({ what: `the build Python ${plan.version.text}`, minutes: LAYER_MINUTES.buildPython });
  }
  const extra = layers.reduce((n, l) => n + l.minutes, 0);
  const [lo, hi] = BUILD_MINUTES[plan.mode];
  return { minutes: [lo + extra, hi + extra], layers };
}

/** "about 5–7 minutes: CPython 2–4, the amd64 base and toolchain layers 3 (once per machine)" */
export function describeEstimate(e: BuildEstimate, plan: VariantPlan): string {
  const [lo, hi] = BUILD_MINUTES[plan.mode];
  const how = plan.mode === 'native' ? '' : plan.mode === 'cross' ? ', cross-compiled' : ', every step under QEMU';
  const parts = [`CPython ${lo}–${hi}${how}`, ...e.layers.map((l) => `${l.what} ${l.minutes} (once)`)];
  return `about ${e.minutes[0]}–${e.minutes[1]} minutes${parts.length > 1 ? `: ${parts.join(', ')}` : how ? ` (${how.slice(2)})` : ''}`;
}
