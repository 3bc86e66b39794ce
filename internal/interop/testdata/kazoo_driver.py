"""Drives kazoo (the Python ZooKeeper client) for the interop tests.

Reads one JSON command per line on stdin and answers each with one JSON
line on stdout: {"ok": true, "result": ...} or {"ok": false, "error":
"<kazoo exception class>", "message": "..."}. Node data travels as hex.
Usage: kazoo_driver.py host:port
"""

import json
import sys
import threading

from kazoo.client import KazooClient
from kazoo.recipe.lock import Lock, ReadLock, WriteLock
from kazoo.security import make_acl, make_digest_acl

HOSTS = sys.argv[1]
clients = {}
locks = {}
acquired = {}
events = {}
events_cond = threading.Condition()


def stat_dict(st):
    return {
        "czxid": st.czxid, "mzxid": st.mzxid, "pzxid": st.pzxid,
        "version": st.version, "cversion": st.cversion,
        "aversion": st.aversion, "ephemeralOwner": st.ephemeralOwner,
        "dataLength": st.dataLength, "numChildren": st.numChildren,
    }


def record(name):
    def on_event(ev):
        with events_cond:
            events[name].append({"type": ev.type, "path": ev.path})
            events_cond.notify_all()
    return on_event


def handle(cmd):
    op = cmd["op"]
    if op == "connect":
        auth = [("digest", u + ":" + p) for u, p in cmd.get("auth", [])]
        sasl = None
        if "sasl" in cmd:  # DIGEST-MD5, through puresasl
            u, p = cmd["sasl"]
            sasl = {"mechanism": "DIGEST-MD5", "username": u, "password": p}
        c = KazooClient(hosts=cmd.get("hosts", HOSTS), timeout=cmd.get("timeout", 10.0),
                        auth_data=auth or None, sasl_options=sasl)
        c.start(timeout=15)
        clients[cmd["c"]] = c
        events[cmd["c"]] = []
        return c.client_id[0]
    c = clients.get(cmd.get("c"))
    if op == "close":
        c.stop()
        c.close()
        return None
    if op == "session":  # the session's id and password, to end it from outside
        sid, passwd = c.client_id
        return {"id": sid, "password": passwd.hex()}
    if op == "create":
        acl = None
        if "digest" in cmd:
            u, p = cmd["digest"]
            acl = [make_digest_acl(u, p, all=True)]
        if "sasl_acl" in cmd:
            acl = [make_acl("sasl", cmd["sasl_acl"], all=True)]
        return c.create(cmd["path"], bytes.fromhex(cmd.get("data", "")), acl=acl,
                        ephemeral=cmd.get("ephemeral", False),
                        sequence=cmd.get("sequence", False),
                        makepath=cmd.get("makepath", False))
    if op == "get":
        data, st = c.get(cmd["path"])  # data is None for a null buffer
        return {"data": None if data is None else data.hex(), "stat": stat_dict(st)}
    if op == "set":
        return stat_dict(c.set(cmd["path"], bytes.fromhex(cmd["data"]), cmd.get("version", -1)))
    if op == "children":
        return sorted(c.get_children(cmd["path"]))
    if op == "exists":
        return c.exists(cmd["path"]) is not None
    if op == "watch_data":  # a one-shot watch through get
        c.get(cmd["path"], watch=record(cmd["c"]))
        return None
    if op == "watch_exists":  # a one-shot watch through exists
        return c.exists(cmd["path"], watch=record(cmd["c"])) is not None
    if op == "wait_event":  # the oldest event not yet taken
        with events_cond:
            if not events_cond.wait_for(lambda: events[cmd["c"]], timeout=cmd.get("timeout", 15.0)):
                raise TimeoutError("no watch event")
            return events[cmd["c"]].pop(0)
    if op == "txn":
        t = c.transaction()
        for o in cmd["ops"]:
            if o[0] == "create":
                t.create(o[1], bytes.fromhex(o[2]))
            elif o[0] == "set":
                t.set_data(o[1], bytes.fromhex(o[2]), o[3])
            elif o[0] == "check":
                t.check(o[1], o[2])
            elif o[0] == "delete":
                t.delete(o[1])
        return [r if isinstance(r, (str, bool)) or r is None else type(r).__name__
                for r in t.commit()]
    if op == "lock_new":  # a Lock, ReadLock or WriteLock (kind); patterns, its
        # extra_lock_patterns, name the other recipe's nodes it waits behind
        # (by default the Go Mutex's "-lock-")
        kind = {"lock": Lock, "read": ReadLock, "write": WriteLock}[cmd.get("kind", "lock")]
        locks[cmd["name"]] = kind(c, cmd["path"], cmd["name"],
                                  extra_lock_patterns=cmd.get("patterns", ["-lock-"]))
        acquired[cmd["name"]] = threading.Event()
        return None
    if op == "lock_try":
        got = locks[cmd["name"]].acquire(blocking=False)
        if got:
            acquired[cmd["name"]].set()
        return got
    if op == "lock_start":  # acquire in the background
        lk, ev = locks[cmd["name"]], acquired[cmd["name"]]
        threading.Thread(target=lambda: lk.acquire() and ev.set(), daemon=True).start()
        return None
    if op == "lock_wait":
        return acquired[cmd["name"]].wait(cmd.get("timeout", 15.0))
    if op == "lock_held":
        return acquired[cmd["name"]].is_set()
    if op == "lock_release":
        acquired[cmd["name"]].clear()
        return locks[cmd["name"]].release()
    raise ValueError("unknown op " + op)


def main():
    for line in sys.stdin:
        try:
            reply = {"ok": True, "result": handle(json.loads(line))}
        except Exception as e:  # reported to the Go test, which decides
            reply = {"ok": False, "error": type(e).__name__, "message": str(e)}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
    for c in clients.values():
        try:
            c.stop()
            c.close()
        except Exception:
            pass


if __name__ == "__main__":
    main()
