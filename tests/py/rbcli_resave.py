"""Load a ring.gz with Swift's RingData and save it again with Swift's writer.

usage: rbcli_resave.py <ring.gz in> <ring.gz out>

A test compares the bytes: a ring swirl wrote should be exactly what Swift
itself writes for the same ring (the out file should have the same base name,
since Swift's gzip header records it).
"""

import sys

from swift.common.ring import RingData


def main():
    src, dst = sys.argv[1:3]
    RingData.load(src).save(dst)


if __name__ == '__main__':
    main()
