"""Swift's own list_endpoints middleware over a cluster's rings: what Swift
2.30 answers to GET <path> for each path given.

usage: list_endpoints.py <swift_dir> <container policy index> <path>...
Prints one JSON line per path: [status, content type, body]. The
container's storage policy (which Swift reads with get_container_info) is
the one given.
"""
import json
import sys

from swift.common import storage_policy, utils
from swift.common.middleware import list_endpoints
from swift.common.swob import Request

swift_dir, policy = sys.argv[1], sys.argv[2]
conf = swift_dir + "/swift.conf"
utils.SWIFT_CONF_FILE = conf
utils.HASH_PATH_SUFFIX = utils.HASH_PATH_PREFIX = b""
storage_policy.SWIFT_CONF_FILE = conf
utils.validate_hash_conf()
storage_policy.reload_storage_policies()
list_endpoints.get_container_info = lambda *a, **k: {"storage_policy": policy}


def app(env, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"app"]


mw = list_endpoints.filter_factory({"swift_dir": swift_dir})(app)
for path in sys.argv[3:]:
    resp = Request.blank(path).get_response(mw)
    print(json.dumps([resp.status_int, resp.headers.get("Content-Type"),
                      resp.body.decode()]))
