"""Run swift-ring-builder command lines and report their exit codes.

usage: rbcli_exit_codes.py <cases.json>

cases.json holds [[dir, [arg, ...]], ...]. Each case runs Swift's
swift-ring-builder (swift.cli.ringbuilder.main, exactly what
/usr/bin/swift-ring-builder runs) in `dir` with those arguments and stdin at
EOF, in this one process so a table of cases costs one interpreter start.
/usr/bin/swift-ring-builder turns an uncaught exception into exit code 2;
so does this script. Prints one JSON list: [[code, output], ...].
"""

import io
import json
import os
import sys
import traceback

from swift.cli import ringbuilder


def run(directory, args):
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
    print(json.dumps([run(d, a) for d, a in cases]))


if __name__ == '__main__':
    main()
