#!/usr/bin/python3
"""Answer ring questions with Swift's own classes, for swirl's interop tests.

usage:
  swift_ring.py lookup <ring.gz> <prefix> <suffix> <handoffs: N or all>
      stdin: one JSON list [account, container|null, object|null] per line
      stdout: one JSON list per line:
              [partition, [[id, index], ...primaries], [[id, handoff_index], ...]]
  swift_ring.py dump <ring.gz>
      stdout: the ring as Swift's RingData loads it (JSON)
  swift_ring.py resave <ring.gz> <out.ring.gz>
      load with Swift's RingData and save again with Swift's writer

Runs under /usr/bin/python3, where Debian's swift package lives. The hash path
secret is set on swift.common.utils directly, so /etc/swift is never read.
"""
import itertools
import json
import sys

import swift.common.utils as utils
from swift.common.ring import Ring, RingData


def lookup(path, prefix, suffix, handoffs):
    utils.HASH_PATH_PREFIX = prefix.encode('utf8')
    utils.HASH_PATH_SUFFIX = suffix.encode('utf8')
    ring = Ring(path)
    limit = None if handoffs == 'all' else int(handoffs)
    out = sys.stdout
    for line in sys.stdin:
        a, c, o = json.loads(line)
        part, nodes = ring.get_nodes(a, c, o)
        more = itertools.islice(ring.get_more_nodes(part), limit)
        out.write(json.dumps([
            part,
            [[n['id'], n['index']] for n in nodes],
            [[n['id'], n['handoff_index']] for n in more],
        ]))
        out.write('\n')


def dump(path):
    rd = RingData.load(path)
    print(json.dumps({
        'devs': rd.devs,
        'replica2part2dev_id': [list(r) for r in rd._replica2part2dev_id],
        'part_shift': rd._part_shift,
        'next_part_power': rd.next_part_power,
        'version': rd.version,
        'replica_count': rd.replica_count,
    }, sort_keys=True))


def resave(path, out):
    RingData.load(path).save(out)


def main(argv):
    if len(argv) == 6 and argv[1] == 'lookup':
        lookup(*argv[2:])
    elif len(argv) == 3 and argv[1] == 'dump':
        dump(argv[2])
    elif len(argv) == 4 and argv[1] == 'resave':
        resave(argv[2], argv[3])
    else:
        sys.exit(__doc__)


if __name__ == '__main__':
    main(sys.argv)
