# Sourced by ./start and ./stop: where the reference cluster lives and which
# loopback ports it uses. Every value can be overridden from the environment.
#
#   SWIFT_REF_ROOT          data, configs, rings, logs, pids   (/tmp/swift-reference)
#   SWIFT_REF_FS            xfs: the devices live on a sparse XFS image
#                           loop-mounted on $SWIFT_REF_ROOT/srv (needs root);
#                           plain: plain directories on whatever holds the root
#                           (on ext4, objects with the most user metadata Swift
#                           allows do not fit in the inode's xattr space: 507)
#                           (xfs)
#   SWIFT_REF_DISK_SIZE     size of the sparse XFS image       (24G)
#   SWIFT_REF_PROXY_PORT    the proxy, tempauth at /auth/v1.0  (8080)
#   SWIFT_REF_PORT_BASE     storage server n (1-4) listens on base + 10n
#                           (object), + 10n + 1 (container), + 10n + 2
#                           (account): SAIO's 6210, 6211, 6212, 6220, ...  (6200)
#   SWIFT_REF_MEMCACHED_PORT                                   (11211)
#   SWIFT_REF_RSYNC_PORT    rsyncd, with --with-daemons only   (6873)
#   SWIFT_REF_PROXY_WORKERS the proxy's workers (auto: one per core) (auto)
#   SWIFT_REF_SYNC_METHOD   the object replicator's rsync or ssync (rsync)

REF_ROOT=${SWIFT_REF_ROOT:-/tmp/swift-reference}
REF_FS=${SWIFT_REF_FS:-xfs}
REF_DISK_SIZE=${SWIFT_REF_DISK_SIZE:-24G}
REF_PROXY_PORT=${SWIFT_REF_PROXY_PORT:-8080}
REF_PORT_BASE=${SWIFT_REF_PORT_BASE:-6200}
REF_MEMCACHED_PORT=${SWIFT_REF_MEMCACHED_PORT:-11211}
REF_RSYNC_PORT=${SWIFT_REF_RSYNC_PORT:-6873}
REF_PROXY_WORKERS=${SWIFT_REF_PROXY_WORKERS:-auto}
REF_SYNC_METHOD=${SWIFT_REF_SYNC_METHOD:-rsync}

REF_ETC=$REF_ROOT/etc
REF_LOG=$REF_ROOT/log
REF_RUN=$REF_ROOT/run
REF_SRV=$REF_ROOT/srv
# `NAME PID` per line: the format `swirl bench --pids-file` reads.
REF_PIDS=$REF_ROOT/pids

# The port of server KIND (object, container, account) on node N (1-4).
ref_port() {
  local off
  case $1 in object) off=0 ;; container) off=1 ;; account) off=2 ;; *) return 1 ;; esac
  echo $((REF_PORT_BASE + 10 * $2 + off))
}
