"""Run swift-ring-builder command lines and report their exit codes.

usage: rbcli_exit_codes.py <cases.json>

cases.json holds [[dir, [arg, ...], copy_from], ...]. Each case runs Swift's
swift-ring-builder (swift.cli.ringbuilder.main, exactly what
/usr/bin/swift-ring-builder runs) in `dir` with those arguments and stdin at
EOF, in this one process so a table of cases costs one interpreter start.
When copy_from is not null, dir is first created and object.builder and
object.ring.gz copied into it from there, so each case starts from the same
state that earlier (setup) cases built.
/usr/bin/swift-ring-builder turns an uncaught exception into exit code 2;
so does this script. Prints one JSON list: [[code, output], ...].
"""

import io
import json
import os
import shutil
import sys
import traceback

from swift.cli import ringbuilder


def run(directory, args, copy_from):
    if copy_from is not None:
        os.makedirs(directory, exist_ok=True)
        for name in ('object.builder', 'object.ring.gz'):
            shutil.copy(os.path.join(copy_from, name), directory)
    os.chdir(directory)
    out = io.StringIO()
    saved = sys.stdout, sys.stderr, sys.stdin
    sys.stdout = sys.stderr = out
    sys.stdin = io.StringIO('')
    try:
        ringbuilder.main(['swift-ring-builder'] + args)
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except Exception:
        traceback.print_exc(file=out)
        code = 2
    finally:
        sys.stdout, sys.stderr, sys.stdin = saved
    return [code, out.getvalue()]


def main():
    with open(sys.argv[1]) as f:
        cases = json.load(f)
    print(json.dumps([run(d, a, c) for d, a, c in cases]))


if __name__ == '__main__':
    main()
