#!/usr/bin/python3
"""Start one of Swift's own entry scripts (swift-object-server, ...) with a
swift.conf of the test's instead of /etc/swift/swift.conf.

usage: swift_launch.py <swift.conf> <entry script> <server conf> [options]

Runs under /usr/bin/python3 (Debian's swift package). The server keeps this
process's pid, so killing the child kills the server.
"""
import os
import runpy
import sys

if len(sys.argv) < 4:
    sys.exit(__doc__)
swift_conf, script, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if not os.path.isfile(swift_conf):
    sys.exit('swift_launch: no such file: %s' % swift_conf)

import swift.common.utils as utils  # noqa: E402

utils.SWIFT_CONF_FILE = swift_conf
utils.HASH_PATH_PREFIX = b''
utils.HASH_PATH_SUFFIX = b''
utils.validate_configuration()

# Both read SWIFT_CONF_FILE when imported: load them again from the test's file.
from swift.common import constraints, storage_policy  # noqa: E402

constraints.reload_constraints()
storage_policy.reload_storage_policies()

sys.argv = [script] + args
runpy.run_path(script, run_name='__main__')
