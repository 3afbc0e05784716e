"""glance_store's Swift driver (from PyPI, run in its own venv) against a
Swift endpoint, in one of three modes, as glance-api drives it:

  v1      single-tenant, tempauth v1 auth (glance_store <= 4.10 only: from
          5.0 the single-tenant store speaks Keystone v3 and nothing else)
  v3      single-tenant, Keystone v3 (user "project:user" from a
          swift_store_config_file reference; the storage URL comes from the
          catalog's object-store endpoint)
  multi   multi-tenant (swift_store_multi_tenant, no trusts): the caller's
          Keystone token and its service catalog (in the v2 form
          keystonemiddleware hands glance), one container per image

Each run adds an image larger than swift_store_large_object_size, so the
driver writes segments `<id>-00001`... and a DLO manifest (X-Object-Manifest)
in the same container; reads it back byte for byte and checks the MD5 and
sha512 it returned; reads from an offset across a segment boundary with the
driver's ranged GET (what its retry path sends, `Range: bytes=N-`); deletes it
and checks through the Swift API that no segment, manifest or (multi-tenant)
container is left. Prints one JSON line of results and timings.

glance_store facts this relies on (glance_store 4.10.0 and 5.7.0):
- its "MB" is 1,024,000 bytes: chunk size 64 means 65,536,000-byte segments;
- add(image_id, file, size, hashing_algo, context) returns (location URI,
  size, checksum, multihash, metadata); checksum is the MD5 of the whole
  stream (not the manifest's ETag);
- get(location, context) sends one GET without a Range; with an offset or
  chunk_size glance_store refuses it (StoreRandomGetNotSupported: the Swift
  store does not declare random access); the only ranged request the driver
  makes is BaseStore._get_object(start=N), from its retry path;
- 5.x with a known size that is not a multiple of the chunk size sends the
  last segment with Content-Length = chunk size and fewer bytes (LP #2110185),
  so the 5.7 modes add with size 0 ("unknown", as a chunked upload to
  glance-api does): segments then go with Transfer-Encoding: chunked;
- multi-tenant needs swift_store_config_file unset, else the store does not
  load; the container is `<swift_store_container>_<image id>`; set_acls POSTs
  X-Container-Read `<project>:*`; delete removes the object, then the
  container.
"""

import argparse
import hashlib
from importlib import metadata
import json
import os
import random
import sys
import time
import uuid

import glance_store
import swiftclient
from glance_store import location as gs_location
from oslo_config import cfg

MIB = 1 << 20
GS_MB = 1024000  # glance_store's unit for swift_store_large_object_*


class Pattern:
    """A seeded byte stream of `size` bytes, made on demand: 1 MiB block i is
    a fixed random MiB rotated by a per-block amount, so reordered, repeated
    or shifted segments all differ from the expected bytes."""

    def __init__(self, size, seed):
        base = random.Random(seed).randbytes(MIB)
        self.base2 = base + base
        self.size = size
        self.pos = 0

    def at(self, off, n):
        n = max(0, min(n, self.size - off))
        out = []
        while n > 0:
            blk, inner = divmod(off, MIB)
            take = min(n, MIB - inner)
            rot = (blk * 7919 + 13) % MIB
            out.append(self.base2[rot + inner:rot + inner + take])
            off += take
            n -= take
        return b"".join(out)

    def read(self, n=-1):
        if n is None or n < 0:
            n = self.size - self.pos
        b = self.at(self.pos, n)
        self.pos += len(b)
        return b


class Context:
    """The fields of glance's RequestContext the Swift driver reads."""

    def __init__(self, token=None, catalog=None, user_id=None, project_id=None):
        self.auth_token = token
        self.service_catalog = catalog
        self.user_id = user_id
        self.project_id = project_id
        self.tenant = project_id
        self.user = user_id
        self.roles = []
        self.is_admin = False


def v2_catalog(v3_catalog):
    """keystonemiddleware's X-Service-Catalog: Keystone v3's catalog in the
    v2 form (publicURL/internalURL/adminURL per region)."""
    out = []
    for svc in v3_catalog:
        regions = {}
        for ep in svc.get("endpoints", []):
            r = regions.setdefault(ep.get("region_id") or ep.get("region"), {})
            r["region"] = ep.get("region_id") or ep.get("region")
            r[ep["interface"] + "URL"] = ep["url"]
        out.append({"type": svc["type"], "name": svc.get("name"),
                    "endpoints": list(regions.values())})
    return out


def keystone_session(a, user, project):
    from keystoneauth1 import session
    from keystoneauth1.identity import v3
    auth = v3.Password(auth_url=a.auth_url, username=user, password=a.key,
                       project_name=project, user_domain_id="default",
                       project_domain_id="default")
    sess = session.Session(auth=auth)
    access = auth.get_access(sess)
    return access


def write_conf(a, path):
    lines = ["[glance_store]", "stores = swift", "default_store = swift",
             "swift_store_create_container_on_put = True",
             "swift_store_container = glance",
             "swift_store_large_object_size = %d" % a.large_mb,
             "swift_store_large_object_chunk_size = %d" % a.chunk_mb]
    if a.mode == "multi":
        lines += ["swift_store_multi_tenant = True",
                  "swift_store_use_trusts = False"]
    else:
        ref = os.path.join(a.dir, "glance-swift.conf")
        r = ["[ref1]", "auth_address = %s" % a.auth_url,
             "user = %s" % a.user, "key = %s" % a.key]
        if a.mode == "v1":
            r += ["auth_version = 1"]
        else:
            r += ["auth_version = 3", "user_domain_id = default",
                  "project_domain_id = default"]
        with open(ref, "w") as f:
            f.write("\n".join(r) + "\n")
        lines += ["default_swift_reference = ref1",
                  "swift_store_config_file = %s" % ref]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def check_stream(chunks, pat, start, what):
    """Compares an iterator of byte chunks with the pattern from `start`;
    returns (bytes seen, md5 hex)."""
    md5 = hashlib.md5()
    off = start
    for c in chunks:
        if not c:
            continue
        exp = pat.at(off, len(c))
        if c != exp:
            i = next(i for i in range(len(exp))
                     if i >= len(c) or c[i] != exp[i])
            sys.exit("%s: byte %d differs" % (what, off + i))
        md5.update(c)
        off += len(c)
    return off - start, md5.hexdigest()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["v1", "v3", "multi"], required=True)
    p.add_argument("--dir", required=True, help="scratch dir for configs")
    p.add_argument("--auth-url", required=True)
    p.add_argument("--user", help="tempauth account:user or project:user")
    p.add_argument("--key", required=True)
    p.add_argument("--project", help="multi: the caller's project")
    p.add_argument("--reader-user", help="multi: user of another project")
    p.add_argument("--reader-project", help="multi: that project")
    p.add_argument("--size", type=int, default=300 * MIB)
    p.add_argument("--unknown-size", action="store_true",
                   help="add with size 0 (chunked segments)")
    p.add_argument("--large-mb", type=int, default=100)
    p.add_argument("--chunk-mb", type=int, default=64)
    a = p.parse_args()
    a.dir = os.path.abspath(a.dir)

    conf_path = os.path.join(a.dir, "glance-api.conf")
    write_conf(a, conf_path)
    conf = cfg.CONF  # glance_store reads the global one too
    glance_store.register_opts(conf)
    conf([], project="glance", default_config_files=[conf_path])
    glance_store.create_stores(conf)
    glance_store.verify_default_store()
    store = glance_store.get_store_from_scheme("swift")
    kind = type(store).__name__
    want = "MultiTenantStore" if a.mode == "multi" else "SingleTenantStore"
    assert kind == want, "store is %s, want %s" % (kind, want)

    ctx = None
    if a.mode == "multi":
        access = keystone_session(a, a.user, a.project)
        ctx = Context(access.auth_token, v2_catalog(access.service_catalog.catalog),
                      access.user_id, access.project_id)

    image_id = str(uuid.uuid4())
    seed = uuid.UUID(image_id).int & 0xffffffff
    pat = Pattern(a.size, seed)
    r = {"mode": a.mode, "glance_store": metadata.version("glance_store"),
         "image_id": image_id, "size": a.size}

    # add
    t = time.monotonic()
    size_arg = 0 if a.unknown_size else a.size
    uri, size, checksum, multihash, _store_meta = store.add(
        image_id, pat, size_arg, "sha512", context=ctx)
    r["add_s"] = round(time.monotonic() - t, 2)
    r["location"] = uri.split("@")[-1]  # never print credentials
    assert size == a.size, "add returned size %d, want %d" % (size, a.size)
    whole = Pattern(a.size, seed)
    md5 = hashlib.md5()
    sha = hashlib.sha512()
    for off in range(0, a.size, 8 * MIB):
        b = whole.at(off, 8 * MIB)
        md5.update(b)
        sha.update(b)
    assert checksum == md5.hexdigest(), "checksum %s, want %s" % (
        checksum, md5.hexdigest())
    assert multihash == sha.hexdigest(), "multihash differs"

    loc = gs_location.get_location_from_uri(uri, conf=conf)
    sl = loc.store_location
    container, obj = sl.container, sl.obj
    r["container"] = container

    # What the driver wrote, through the Swift API.
    conn = store.get_connection(sl, context=ctx)
    r["storage_url"] = conn.get_auth()[0] if a.mode != "multi" else sl.swift_url
    mh = conn.head_object(container, obj)
    manifest = mh.get("x-object-manifest")
    assert manifest == "%s/%s-" % (container, obj), "manifest %r" % manifest
    assert int(mh["content-length"]) == a.size, mh
    _, listing = conn.get_container(container, prefix=obj + "-")
    segs = [o["name"] for o in listing]
    chunk = a.chunk_mb * GS_MB
    nseg = -(-a.size // chunk)
    assert segs == ["%s-%05d" % (obj, i + 1) for i in range(nseg)], segs
    assert sum(o["bytes"] for o in listing) == a.size, listing
    r["segments"] = len(segs)

    # get: the whole image, byte for byte, and its MD5 against add's checksum
    t = time.monotonic()
    it, length = store.get(loc, context=ctx)
    assert length == a.size, "get length %d" % length
    n, got_md5 = check_stream(it, pat, 0, "get")
    r["get_s"] = round(time.monotonic() - t, 2)
    assert n == a.size, "get read %d bytes" % n
    assert got_md5 == checksum, "get md5 %s != checksum %s" % (got_md5, checksum)
    assert store.get_size(loc, context=ctx) == a.size

    # get with offset and chunk_size: the Swift store does not declare
    # random access, so glance_store refuses it before any request.
    try:
        store.get(loc, offset=chunk - 100, chunk_size=1000, context=ctx)
        sys.exit("get(offset, chunk_size) was not refused")
    except glance_store.exceptions.StoreRandomGetNotSupported:
        pass

    # A partial read: a consumer that stops after a few chunks and drops the
    # response (glance-api when its client goes away).
    it, length = store.get(loc, context=ctx)
    part = []
    for c in it:
        part.append(c)
        if sum(map(len, part)) >= 3 * MIB:
            break
    got = b"".join(part)
    assert got == pat.at(0, len(got)), "partial read differs"
    del it

    # The driver's ranged GET (its retry path's Range: bytes=N-), from
    # just before the last segment boundary to the end.
    start = (nseg - 1) * chunk - 4097
    t = time.monotonic()
    with store.get_manager(sl, ctx) as manager:
        hdrs, body = store._get_object(sl, manager, start=start)
        assert int(hdrs["content-length"]) == a.size - start, hdrs
        n, _ = check_stream(body, pat, start, "ranged get")
    assert n == a.size - start, "ranged get read %d" % n
    r["ranged_s"] = round(time.monotonic() - t, 2)
    r["ranged_bytes"] = n

    if a.mode == "multi" and a.reader_user:
        # set_acls: another project's user may then read the image.
        other = keystone_session(a, a.reader_user, a.reader_project)
        store.set_acls(loc, read_tenants=[other.project_id], context=ctx)
        ch = conn.head_container(container)
        assert ch.get("x-container-read") == "%s:*" % other.project_id, ch
        reader = swiftclient.Connection(preauthurl=sl.swift_url,
                                        preauthtoken=other.auth_token)
        h, b = reader.get_object(container, obj,
                                 headers={"Range": "bytes=%d-%d" % (chunk - 10, chunk + 9)})
        assert b == pat.at(chunk - 10, 20), "reader's range differs"
        r["acl_read"] = True

    # delete, then nothing is left
    t = time.monotonic()
    store.delete(loc, context=ctx)
    r["delete_s"] = round(time.monotonic() - t, 2)
    try:
        conn.head_object(container, obj)
        sys.exit("manifest still there after delete")
    except swiftclient.ClientException as e:
        assert e.http_status == 404, e
    if a.mode == "multi":
        try:
            conn.head_container(container)
            sys.exit("container still there after delete")
        except swiftclient.ClientException as e:
            assert e.http_status == 404, e
    else:
        _, listing = conn.get_container(container, prefix=obj)
        assert listing == [], listing
    print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
