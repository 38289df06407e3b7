import { describe, expect, it } from 'vitest';
import { buildFailureHint } from '../../src/provision/extension.js';

describe('buildFailureHint: what to do about a failed extension build', () => {
  it('a missing header: the system package it needs goes into system_packages', () => {
    expect(buildFailureHint(['      Modules/common.h:15:10: fatal error: lber.h: No such file or directory', 'error: command failed'], 'pyproject')).toBe(
      "the build ran 'pyproject' in a copy of the project at /pydbg/build; lber.h is missing: add the Debian package that provides it (usually a -dev package) to system_packages in pydbg.yaml",
    );
    expect(buildFailureHint(['x.c:1:10: fatal error: cairo/cairo.h: No such file or directory'], 'setup.py')).toMatch(/; cairo\/cairo\.h is missing: /);
  });
  it('a missing library at link time', () => {
    expect(buildFailureHint(['/usr/bin/ld: cannot find -lmaxminddb: No such file or directory'], 'setup.py')).toMatch(/; the library maxminddb is missing: add its Debian -dev package \(libmaxminddb-dev or similar\) to system_packages in pydbg\.yaml$/);
  });
  it('no pkg-config', () => {
    expect(buildFailureHint(["FileNotFoundError: [Errno 2] No such file or directory: 'pkg-config'"], 'setup.py')).toMatch(/pkg-config is missing/);
  });
  it('anything else: the compiler output above is the answer', () => {
    expect(buildFailureHint(["broken.c:2:80: error: 'undefined_thing' undeclared"], 'setup.py')).toBe("the build ran 'setup.py' in a copy of the project at /pydbg/build; fix the errors above and run again");
  });
});
