#!/usr/bin/python3
"""Build account/container/object rings with Swift's own RingBuilder in one
python process (swift-ring-builder costs a second of start-up per call).

usage: proxy_make_rings.py <out dir> '<json spec>'
spec: {"object": [{"port": 6000, "device": "d1", "zone": 1}, ...], ...}
Part power 8, 3 replicas (or fewer devices), min_part_hours 1, seed 1.
"""
import json
import sys

from swift.common.ring import RingBuilder

out, spec = sys.argv[1], json.loads(sys.argv[2])
for name, devs in spec.items():
    b = RingBuilder(8, min(3, len(devs)), 1)
    for i, d in enumerate(devs):
        b.add_dev({'id': i, 'region': 1, 'zone': d['zone'], 'ip': '127.0.0.1',
                   'port': d['port'], 'replication_ip': '127.0.0.1',
                   'replication_port': d['port'], 'device': d['device'],
                   'weight': 100, 'meta': ''})
    b.rebalance(seed=1)
    b.get_ring().save('%s/%s.ring.gz' % (out, name))
