//! The backend protocol's vocabulary: the names of the headers the proxy and
//! the storage servers exchange and nobody else may send (the proxy's
//! gatekeeper strips them from clients). Swift's names, lowercase as HTTP/1
//! carries them; each is written here once for every role.

/// The storage policy of an object request, or of a container (its rows).
pub const STORAGE_POLICY_INDEX: &str = "x-backend-storage-policy-index";
/// The policy a container PUT without one gets (the proxy's default).
pub const STORAGE_POLICY_DEFAULT: &str = "x-backend-storage-policy-default";
/// The timestamp of what a server has (a 404's tombstone, a 409's newer write).
pub const TIMESTAMP: &str = "x-backend-timestamp";
/// The timestamp of an object's .data file.
pub const DATA_TIMESTAMP: &str = "x-backend-data-timestamp";
/// The timestamp of an object's durable state.
pub const DURABLE_TIMESTAMP: &str = "x-backend-durable-timestamp";
/// A container's put timestamp.
pub const PUT_TIMESTAMP: &str = "x-backend-put-timestamp";
/// A container's delete timestamp.
pub const DELETE_TIMESTAMP: &str = "x-backend-delete-timestamp";
/// When a container last changed status (created, deleted).
pub const STATUS_CHANGED_AT: &str = "x-backend-status-changed-at";
/// A container's sharding state (swirl's are always `unsharded`).
pub const SHARDING_STATE: &str = "x-backend-sharding-state";
/// What a container listing holds (`object`).
pub const RECORD_TYPE: &str = "x-backend-record-type";
/// The policy of a container's object rows.
pub const RECORD_STORAGE_POLICY_INDEX: &str = "x-backend-record-storage-policy-index";
/// Create the container of a row sent to it when missing (internal accounts).
pub const AUTO_CREATE: &str = "x-backend-auto-create";
/// Where an object's alternative ETag is kept (metadata names, comma
/// separated), for If-Match and If-None-Match.
pub const ETAG_IS_AT: &str = "x-backend-etag-is-at";
/// Ignore Range when the object has any of these metadata (manifests are
/// read whole).
pub const IGNORE_RANGE: &str = "x-backend-ignore-range-if-metadata-present";
/// Set by an object server on a GET whose bytes it checked as it read them
/// (value [`READ_VERIFIED_BLAKE3`]): the proxy need not check them again.
pub const READ_VERIFIED: &str = "x-backend-read-verified";
/// The value of [`READ_VERIFIED`]: checked against the stored blake3.
pub const READ_VERIFIED_BLAKE3: &str = "blake3";
/// A request from a replicator (sees what clients cannot).
pub const REPLICATION: &str = "x-backend-replication";
/// The length of a body sent chunked (for the node's space and truncation
/// checks).
pub const OBJ_CONTENT_LENGTH: &str = "x-backend-obj-content-length";
/// The Content-Type of the object a POST or DELETE found.
pub const CONTENT_TYPE: &str = "x-backend-content-type";
/// Prefix of the headers that override what a container row says of an object.
pub const CONTAINER_UPDATE_OVERRIDE: &str = "x-backend-container-update-override-";
/// The container an object server's update goes to, when not the object's own.
pub const CONTAINER_PATH: &str = "x-backend-container-path";
/// [`CONTAINER_PATH`], percent-quoted.
pub const QUOTED_CONTAINER_PATH: &str = "x-backend-quoted-container-path";

/// `no` on a DELETE: leave the expirer queue row of the object's old
/// X-Delete-At alone (the expirer, which removes the row itself).
pub const CLEAN_EXPIRING_OBJECT_QUEUE: &str = "x-backend-clean-expiring-object-queue";
/// A container update's sender follows a redirect (301) to a shard.
pub const ACCEPT_REDIRECT: &str = "x-backend-accept-redirect";
/// ... and takes the redirect's Location percent-quoted.
pub const ACCEPT_QUOTED_LOCATION: &str = "x-backend-accept-quoted-location";
/// A redirect's Location is percent-quoted.
pub const LOCATION_IS_QUOTED: &str = "x-backend-location-is-quoted";
/// The time of the shard range a redirect names.
pub const REDIRECT_TIMESTAMP: &str = "x-backend-redirect-timestamp";

/// Container servers an object write updates (comma separated `ip:port`).
pub const CONTAINER_HOST: &str = "x-container-host";
/// Their devices, in the same order.
pub const CONTAINER_DEVICE: &str = "x-container-device";
/// The container's partition.
pub const CONTAINER_PARTITION: &str = "x-container-partition";
/// Account servers a container write updates (comma separated `ip:port`).
pub const ACCOUNT_HOST: &str = "x-account-host";
/// Their devices, in the same order.
pub const ACCOUNT_DEVICE: &str = "x-account-device";
/// The account's partition.
pub const ACCOUNT_PARTITION: &str = "x-account-partition";
/// Container servers of the expirer queue an X-Delete-At write updates.
pub const DELETE_AT_HOST: &str = "x-delete-at-host";
/// Their devices, in the same order.
pub const DELETE_AT_DEVICE: &str = "x-delete-at-device";
/// The queue container's partition.
pub const DELETE_AT_PARTITION: &str = "x-delete-at-partition";
/// The queue container.
pub const DELETE_AT_CONTAINER: &str = "x-delete-at-container";

/// A backend request's proof that it comes from the cluster:
/// `v1 <unix-ms> <nonce> <mac>` ([`crate::backend_auth`]).
pub const AUTH: &str = "x-backend-auth";
