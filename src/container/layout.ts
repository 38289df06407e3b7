/** Where things are inside the containers pydbg runs: mounts, the build copy, helper scripts. Pure. */
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../version.js';

/** the user's project (read-only unless --rw) */
export const PROJECT_MOUNT = '/src';
/** the copy of the project the extension is built in (kept in the extension image) */
export const BUILD_DIR = '/pydbg/build';
/** where an analysis writes its raw output (a host directory) */
export const OUT_MOUNT = '/pydbg/out';
/** pydbg's run-time helper scripts (images/run on the host), read-only */
export const HELPERS_MOUNT = '/opt/pydbg-run';
export const RUN_HELPERS = join(PACKAGE_ROOT, 'images', 'run');
/** inside a variant image: the interpreter, its suppressions */
export const PYTHON_PREFIX = '/opt/python';
export const SUPPRESSIONS = '/opt/pydbg/valgrind-python.supp';
export const helper = (name: string) => `${HELPERS_MOUNT}/${name}`;
