"""Look paths up in a ring.gz with Swift's own Ring class.

usage: rbcli_lookup.py <ring.gz> <hash prefix> <hash suffix> <paths file> <handoffs>

Reads one `account/container/object` path per line and prints, per line, the
JSON list [partition, [primary device ids], [first <handoffs> handoff ids]],
so a test can compare Swift's answers with swirl's for the same ring file.
"""

import json
import sys

import swift.common.utils as utils
from swift.common.ring import Ring


def main():
    ring_path, prefix, suffix, paths_file, handoffs = sys.argv[1:6]
    handoffs = int(handoffs)
    # Set the hash secret before anything reads /etc/swift/swift.conf: Swift
    # only loads the file when both are empty.
    utils.HASH_PATH_PREFIX = prefix.encode('utf-8')
    utils.HASH_PATH_SUFFIX = suffix.encode('utf-8')
    ring = Ring(ring_path)
    out = sys.stdout
    with open(paths_file) as f:
        for line in f:
            account, container, obj = line.rstrip('\n').split('/', 2)
            part, nodes = ring.get_nodes(account, container, obj)
            more = []
            for node in ring.get_more_nodes(part):
                if len(more) >= handoffs:
                    break
                more.append(node['id'])
            out.write(json.dumps([part, [n['id'] for n in nodes], more]))
            out.write('\n')


if __name__ == '__main__':
    main()
