#!/usr/bin/env python3
"""straum's Mode B client adapter for etcd v3, through etcd's JSON gateway (one
keep-alive HTTP connection per adapter, no process per operation).

It reads one request per line on stdin and answers one reply per line on stdout, as
README "Mode B: the client-adapter protocol" describes:

  {"f":"read","key":3,"value":null,"node":"n1","addr":"10.200.7.2:2379"}
  {"f":"write","key":3,"value":5,...}    {"f":"cas","key":3,"value":[5,6],...}
  -> {"type":"ok","value":5} | {"type":"fail","error":...} | {"type":"info","error":...}

lin-kv's read/write/cas map to range/put/txn-compare. Keys and values are integers,
stored as their decimal text. A read that fails is always "fail" (it changed
nothing); a write or cas that may have reached etcd (a timeout, a connection lost
after the request was sent) is "info". --serializable makes reads serializable
(served by the member asked, possibly stale) instead of linearizable.
"""
import argparse
import base64
import http.client
import json
import socket
import sys


def b64(value):
    return base64.b64encode(str(value).encode()).decode()


def unb64(text):
    return base64.b64decode(text).decode()


class Etcd:
    def __init__(self, timeout):
        self.timeout = timeout
        self.addr = None
        self.conn = None

    def post(self, addr, path, body):
        """(reply, sent): sent is False only when the request surely never left."""
        if addr != self.addr or self.conn is None:
            self.close()
            host, _, port = addr.rpartition(":")
            self.addr = addr
            self.conn = http.client.HTTPConnection(host, int(port), timeout=self.timeout)
            try:
                self.conn.connect()
            except OSError:
                self.close()
                raise NotSent()
        payload = json.dumps(body)
        try:
            self.conn.request("POST", path, payload, {"Content-Type": "application/json"})
        except OSError:
            self.close()
            raise NotSent()
        try:
            response = self.conn.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as e:
            self.close()
            raise Unknown(str(e) or type(e).__name__)
        if response.status != 200:
            raise Refused(f"HTTP {response.status}: {data[:200]!r}")
        return json.loads(data)

    def close(self):
        if self.conn is not None:
            self.conn.close()
        self.conn = None
        self.addr = None


class NotSent(Exception):
    pass


class Unknown(Exception):
    pass


class Refused(Exception):
    pass


def perform(etcd, request, serializable):
    f, key, value, addr = request["f"], request["key"], request["value"], request["addr"]
    if f == "read":
        reply = etcd.post(addr, "/v3/kv/range", {"key": b64(key), "serializable": serializable})
        kvs = reply.get("kvs") or []
        return {"type": "ok", "value": int(unb64(kvs[0]["value"])) if kvs else None}
    if f == "write":
        etcd.post(addr, "/v3/kv/put", {"key": b64(key), "value": b64(value)})
        return {"type": "ok"}
    if f == "cas":
        old, new = value
        txn = {
            "compare": [{"key": b64(key), "target": "VALUE", "result": "EQUAL", "value": b64(old)}],
            "success": [{"request_put": {"key": b64(key), "value": b64(new)}}],
        }
        reply = etcd.post(addr, "/v3/kv/txn", txn)
        if reply.get("succeeded"):
            return {"type": "ok"}
        return {"type": "fail", "error": "the comparison failed"}
    return {"type": "fail", "error": f"unknown operation {f!r}"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serializable", action="store_true")
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds per request")
    args = parser.parse_args()
    etcd = Etcd(args.timeout)
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        try:
            reply = perform(etcd, request, args.serializable)
        except NotSent:
            reply = {"type": "fail", "error": "could not reach " + request["addr"]}
        except Refused as e:
            reply = {"type": "fail" if request["f"] == "read" else "info", "error": str(e)}
        except (Unknown, socket.timeout) as e:
            reply = {"type": "fail" if request["f"] == "read" else "info", "error": str(e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
