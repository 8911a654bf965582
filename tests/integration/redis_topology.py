"""redis_topology.py: real Redis topologies for the Sentinel and Cluster
tests (tests/integration/test_sentinel.py, test_cluster.py) and for
bench/failover.py, started on free loopback ports in a temporary directory
and always stopped by their owner.

- Resp: a small RESP2 client over TCP (AUTH when given a password); the
  replies as Python values (bytes decoded), errors raised as RespError.
- Node: one redis-server (a data node: replicaof, requirepass/masterauth,
  cluster-enabled), killable with SIGKILL.
- SentinelTopology: one master, one replica, three redis-sentinel
  processes (quorum 2, down-after 1 s); url(), master(), kill_master(),
  wait_new_master(), stop().
- ClusterTopology: 6 nodes, 3 primaries with a replica each, made by
  `redis-cli --cluster create`; keyslot(), owner(), namespaces_apart(),
  migrate_slot(), fail_over(), stop().
- SubmitLoad: a thread submitting jobs at a steady pace through the
  protocol client, recording every accepted id and every error's code;
  lost() tells which accepted jobs are missing afterwards.

`python3 tests/integration/redis_topology.py` checks the harness alone
(no jobd): a Sentinel failover, a slot migration, a cluster failover.
"""
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from pyfixtures import (JOBD, REDIS_SERVER, free_port, proto,  # noqa: E402
                        render_config, wait_until)

REDIS_CLI = os.path.join(os.path.dirname(REDIS_SERVER), "redis-cli")
HOST = "127.0.0.1"


# --- RESP over TCP --------------------------------------------------------

class RespError(Exception):
    """RespError: an error reply (-ERR ..., -MOVED ..., -NOAUTH ...)."""


class Resp:
    """Resp: one connection to HOST:port; cmd(*args) -> the reply."""

    def __init__(self, port, password=None, user=None, timeout=3.0):
        self.sock = socket.create_connection((HOST, port), timeout=timeout)
        self.buf = b""
        if password is not None:
            self.cmd(*(["AUTH"] + ([user] if user else []) + [password]))

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def cmd(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self._reply()

    def _line(self):
        while b"\r\n" not in self.buf:
            more = self.sock.recv(65536)
            if not more:
                raise ConnectionError("redis closed the connection")
            self.buf += more
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                more = self.sock.recv(65536)
                if not more:
                    raise ConnectionError("redis closed the connection")
                self.buf += more
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data.decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._reply() for _ in range(n)]
        raise ConnectionError("bad RESP line %r" % line)


def info_fields(text):
    """info_fields: INFO text as a dict."""
    out = {}
    for line in text.splitlines():
        if ":" in line and not line.startswith("#"):
            k, v = line.split(":", 1)
            out[k] = v.strip()
    return out


# --- one process ----------------------------------------------------------

class Node:
    """Node: one redis-server (or redis-sentinel with sentinel=True) on
    127.0.0.1:port, its files in its own directory under root."""

    def __init__(self, root, name, args=(), password=None, conf=None,
                 sentinel=False):
        self.name = name
        self.port = free_port()
        self.dir = os.path.join(str(root), name)
        os.makedirs(self.dir, exist_ok=True)
        self.log = os.path.join(self.dir, "redis.log")
        self.password = password
        self.sentinel = sentinel
        self.proc = None
        if conf is not None:
            # Sentinel rewrites its config file: it must be its own.
            self.conf = os.path.join(self.dir, "sentinel.conf")
            with open(self.conf, "w") as f:
                f.write("port %d\nbind %s\ndir %s\nlogfile %s\n%s"
                        % (self.port, HOST, self.dir, self.log, conf))
            self.argv = [REDIS_SERVER, self.conf, "--sentinel"]
        else:
            self.argv = [REDIS_SERVER, "--port", str(self.port), "--bind", HOST,
                         "--dir", self.dir, "--logfile", self.log,
                         "--daemonize", "no", "--save", "", "--appendonly", "no",
                         "--repl-diskless-sync-delay", "0"] + list(args)
            if password is not None:
                self.argv += ["--requirepass", password, "--masterauth", password]

    @property
    def addr(self):
        return "%s:%d" % (HOST, self.port)

    def start(self):
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)
        return self

    def wait_ready(self, timeout=15.0):
        def pong():
            if self.proc.poll() is not None:
                raise AssertionError("%s exited %s: %s" % (
                    self.name, self.proc.returncode, self.log_tail(20)))
            try:
                return self.cmd("PING") == "PONG"
            except (OSError, RespError):
                return False
        wait_until(pong, timeout, interval=0.05, msg="%s to answer PING" % self.name)
        return self

    def conn(self, timeout=3.0):
        return Resp(self.port, self.password, timeout=timeout)

    def cmd(self, *args):
        with self.conn() as c:
            return c.cmd(*args)

    def info(self, section=""):
        return info_fields(self.cmd("INFO", section) if section else self.cmd("INFO"))

    def info_cluster(self):
        return info_fields(self.cmd("CLUSTER", "INFO"))

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self, sig=signal.SIGKILL):
        """kill: SIGKILL (or sig) and wait."""
        if self.alive():
            self.proc.send_signal(sig)
            self.proc.wait(10)

    def stop(self):
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n=30):
        try:
            with open(self.log, errors="replace") as f:
                return "".join(f.readlines()[-n:])
        except OSError:
            return "(no log)"


def _stop_all(nodes):
    for n in nodes:
        n.stop()


def _cred(user, password):
    if password is None:
        return ""
    return "%s:%s@" % (urllib.parse.quote(user or "", safe=""),
                       urllib.parse.quote(password, safe=""))


# --- Sentinel -------------------------------------------------------------

class SentinelTopology:
    """SentinelTopology: a master and a replica (replicaof; replicas=N for
    more) watched by three
    sentinels (`sentinel monitor NAME 127.0.0.1 PORT 2`, down-after 1 s),
    under root.  password: requirepass/masterauth of the data nodes (and
    the sentinels' auth-pass); sentinel_password: the sentinels' own
    requirepass.  Started and ready (the sentinels know the replica and
    each other) when the constructor returns; stop() always."""

    def __init__(self, root, name="jobdmaster", password=None,
                 sentinel_password=None, sentinels=3, replicas=1,
                 down_after_ms=1000):
        self.root = str(root)
        self.name = name
        self.password = password
        self.sentinel_password = sentinel_password
        self.data = []
        self.sentinels = []
        try:
            self._start(sentinels, replicas, down_after_ms)
        except BaseException:
            self.stop()
            raise

    def _start(self, count, replicas, down_after_ms):
        master = Node(self.root, "data0", password=self.password).start()
        self.data.append(master)
        master.wait_ready()
        for i in range(1, replicas + 1):
            self.data.append(Node(self.root, "data%d" % i, password=self.password,
                                  args=["--replicaof", HOST, str(master.port)]).start())
        for r in self.data[1:]:
            r.wait_ready()
            wait_until(lambda: r.info("replication").get("master_link_status") == "up",
                       15, msg="the replica %s to sync" % r.name)
        conf = ("sentinel monitor {n} {h} {p} 2\n"
                "sentinel down-after-milliseconds {n} {d}\n"
                "sentinel failover-timeout {n} 4000\n"
                "sentinel parallel-syncs {n} 1\n").format(
                    n=self.name, h=HOST, p=master.port, d=down_after_ms)
        if self.password is not None:
            conf += "sentinel auth-pass %s %s\n" % (self.name, self.password)
        if self.sentinel_password is not None:
            conf += "requirepass %s\n" % self.sentinel_password
        for i in range(count):
            s = Node(self.root, "sentinel%d" % i, conf=conf, sentinel=True,
                     password=self.sentinel_password).start()
            self.sentinels.append(s)
        for s in self.sentinels:
            s.wait_ready()

        def all_know_everything():
            for s in self.sentinels:
                m = dict(_pairs(s.cmd("SENTINEL", "MASTER", self.name)))
                if int(m.get("num-slaves", 0)) < replicas or \
                        int(m.get("num-other-sentinels", 0)) < count - 1:
                    return False
            return True
        wait_until(all_know_everything, 20, interval=0.1,
                   msg="the sentinels to see the replica and each other")

    # --- what the tests ask ---
    def url(self, name=None, password=None, sentinel_password=None,
            user="default", sentinels=None, extra=""):
        """url: sentinel://[USER:PASSWORD@]H:P,.../NAME[?sentinel_password=..]
        (the topology's passwords unless given; "" leaves one out)."""
        password = self.password if password is None else (password or None)
        spw = self.sentinel_password if sentinel_password is None \
            else (sentinel_password or None)
        hosts = ",".join(s.addr for s in (sentinels or self.sentinels))
        query = []
        if spw is not None:
            query.append("sentinel_password=" + urllib.parse.quote(spw, safe=""))
        if extra:
            query.append(extra)
        return "sentinel://%s%s/%s%s" % (_cred(user, password), hosts,
                                          name or self.name,
                                          "?" + "&".join(query) if query else "")

    def reported_master(self, sentinel):
        """reported_master: (host, port) that one sentinel names, or None."""
        r = sentinel.cmd("SENTINEL", "GET-MASTER-ADDR-BY-NAME", self.name)
        return (r[0], int(r[1])) if r else None

    def node_at(self, port):
        for n in self.data:
            if n.port == port:
                return n
        return None

    def master(self):
        """master: the data Node the live sentinels agree on as master."""
        for s in self.sentinels:
            if s.alive():
                addr = self.reported_master(s)
                return self.node_at(addr[1]) if addr else None
        return None

    def replicas(self):
        m = self.master()
        return [n for n in self.data if n is not m and n.alive()]

    def kill_master(self):
        """kill_master: SIGKILL the current master; the Node killed."""
        m = self.master()
        m.kill()
        return m

    def wait_new_master(self, old, timeout=30.0):
        """wait_new_master: every live sentinel names a master other than
        old, and that node says ROLE master; that Node."""
        def switched():
            names = {self.reported_master(s) for s in self.sentinels if s.alive()}
            if len(names) != 1:
                return None
            addr = names.pop()
            if addr is None or addr[1] == old.port:
                return None
            node = self.node_at(addr[1])
            if node is None or not node.alive() or node.cmd("ROLE")[0] != "master":
                return None
            return node
        return wait_until(switched, timeout, interval=0.1,
                          msg="the sentinels to promote a new master")

    def stop_sentinels(self):
        _stop_all(self.sentinels)

    def stop(self):
        _stop_all(self.sentinels + self.data)

    def log_tail(self, n=20):
        return "\n".join("-- %s --\n%s" % (x.name, x.log_tail(n))
                         for x in self.data + self.sentinels)


def _pairs(flat):
    return zip(flat[0::2], flat[1::2])


# --- Cluster --------------------------------------------------------------

class ClusterTopology:
    """ClusterTopology: 6 nodes `--cluster-enabled yes` (node timeout 1 s),
    3 primaries with one replica each, made with `redis-cli --cluster
    create ... --cluster-replicas 1 --cluster-yes`; ready (cluster_state:ok
    everywhere, replicas in sync) when the constructor returns."""

    def __init__(self, root, nodes=6, password=None, node_timeout_ms=1000):
        self.root = str(root)
        self.password = password
        self.nodes = []
        try:
            self._start(nodes, node_timeout_ms)
        except BaseException:
            self.stop()
            raise

    def _start(self, count, node_timeout_ms):
        for i in range(count):
            d = os.path.join(self.root, "node%d" % i)
            n = Node(self.root, "node%d" % i, password=self.password, args=[
                "--cluster-enabled", "yes",
                "--cluster-config-file", os.path.join(d, "nodes.conf"),
                # the bus on a free port of its own (not PORT+10000)
                "--cluster-port", str(free_port()),
                "--cluster-node-timeout", str(node_timeout_ms)]).start()
            self.nodes.append(n)
        for n in self.nodes:
            n.wait_ready()
        argv = [REDIS_CLI, "--cluster", "create"] + [n.addr for n in self.nodes] \
            + ["--cluster-replicas", "1", "--cluster-yes"]
        env = dict(os.environ)
        if self.password is not None:
            env["REDISCLI_AUTH"] = self.password
        r = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                           stdin=subprocess.DEVNULL, env=env)
        if r.returncode != 0:
            raise AssertionError("redis-cli --cluster create failed:\n%s%s"
                                 % (r.stdout, r.stderr))
        self.wait_ok()
        wait_until(self._replicas_synced, 20, interval=0.1,
                   msg="every replica in sync")

    def live(self):
        return [n for n in self.nodes if n.alive()]

    def wait_ok(self, timeout=30.0):
        """wait_ok: cluster_state:ok on every live node, and all of them
        agree on who owns every slot."""
        def ok():
            maps = set()
            for n in self.live():
                if n.info_cluster().get("cluster_state") != "ok":
                    return False
                maps.add(tuple(sorted((s[0], s[1], s[2][1]) for s in n.cmd("CLUSTER", "SLOTS"))))
            return len(maps) == 1
        wait_until(ok, timeout, interval=0.1, msg="cluster_state:ok everywhere")

    def _replicas_synced(self):
        for n in self.live():
            rep = n.info("replication")
            if rep.get("role") == "slave" and rep.get("master_link_status") != "up":
                return False
        return True

    def node_at(self, port):
        for n in self.nodes:
            if n.port == port:
                return n
        return None

    def any_node(self):
        return self.live()[0]

    def url(self, password=None, user="default", nodes=None, extra=""):
        """url: cluster://[USER:PASSWORD@]H:P,... (seeds: every node, or nodes)."""
        password = self.password if password is None else (password or None)
        hosts = ",".join(n.addr for n in (nodes or self.nodes))
        return "cluster://%s%s%s" % (_cred(user, password), hosts,
                                      "?" + extra if extra else "")

    def keyslot(self, key):
        return self.any_node().cmd("CLUSTER", "KEYSLOT", key)

    def ns_slot(self, namespace):
        """ns_slot: the slot of every key of jobd namespace NS ({NS})."""
        return self.keyslot("{%s}" % namespace)

    def owner(self, slot):
        """owner: the primary Node serving slot now."""
        for lo, hi, primary, *_ in self.any_node().cmd("CLUSTER", "SLOTS"):
            if lo <= slot <= hi:
                return self.node_at(primary[1])
        return None

    def primaries(self):
        return sorted({self.node_at(s[2][1]) for s in self.any_node().cmd("CLUSTER", "SLOTS")},
                      key=lambda n: n.port)

    def replicas_of(self, primary):
        myid = primary.cmd("CLUSTER", "MYID")
        return [n for n in self.live() if n is not primary
                and _myself_line(n.cmd("CLUSTER", "NODES")).split()[3] == myid]

    def namespaces_apart(self, count=2, stem="ns"):
        """namespaces_apart: count namespace names whose slots are on
        different primaries."""
        out, used = [], set()
        for i in range(1000):
            ns = "%s%d" % (stem, i)
            p = self.owner(self.ns_slot(ns)).port
            if p not in used:
                used.add(p)
                out.append(ns)
                if len(out) == count:
                    return out
        raise AssertionError("no %d namespaces on different primaries" % count)

    def migrate_slot(self, slot, dest, batch=100, pause=0.0):
        """migrate_slot: move slot from its primary to dest (another
        primary) with the CLUSTER SETSLOT IMPORTING/MIGRATING, MIGRATE,
        SETSLOT NODE sequence; keys move batch at a time, pause seconds
        apart (so a load meets the ASK/TRYAGAIN window).  Returns the
        number of keys moved."""
        src = self.owner(slot)
        assert src is not dest, "slot %d is on %s already" % (slot, dest.name)
        src_id, dest_id = src.cmd("CLUSTER", "MYID"), dest.cmd("CLUSTER", "MYID")
        dest.cmd("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        src.cmd("CLUSTER", "SETSLOT", slot, "MIGRATING", dest_id)
        moved = 0
        auth = ["AUTH", self.password] if self.password is not None else []
        deadline = time.monotonic() + 30
        with src.conn(timeout=10) as c:
            while True:
                keys = c.cmd("CLUSTER", "GETKEYSINSLOT", slot, batch)
                if not keys:
                    break
                if time.monotonic() > deadline:
                    raise AssertionError("slot %d: keys keep coming" % slot)
                c.cmd("MIGRATE", HOST, dest.port, "", 0, 5000, *auth, "KEYS", *keys)
                moved += len(keys)
                time.sleep(pause)
        # The new owner first, then the old one, then everyone else.
        for n in [dest, src] + [n for n in self.live() if n not in (dest, src)]:
            try:
                n.cmd("CLUSTER", "SETSLOT", slot, "NODE", dest_id)
            except RespError:
                pass        # a replica: it learns from its primary
        wait_until(lambda: all(self.owner_from(n, slot) == dest.port for n in self.live()),
                   15, interval=0.05, msg="every node to see slot %d on %s"
                   % (slot, dest.name))
        return moved

    def owner_from(self, node, slot):
        for lo, hi, primary, *_ in node.cmd("CLUSTER", "SLOTS"):
            if lo <= slot <= hi:
                return primary[1]
        return None

    def fail_over(self, primary, kill=True, timeout=30.0):
        """fail_over: kill primary (SIGKILL), or kill=False: CLUSTER
        FAILOVER on its replica; wait until the replica owns its slots and
        the cluster is ok.  Returns the new primary."""
        replica = self.replicas_of(primary)[0]
        if kill:
            primary.kill()
        else:
            replica.cmd("CLUSTER", "FAILOVER")
        wait_until(lambda: replica.info("replication").get("role") == "master",
                   timeout, interval=0.05, msg="%s to be promoted" % replica.name)
        self.wait_ok(timeout)
        return replica

    def rejoin(self, node, timeout=30.0):
        """rejoin: restart a killed node (its nodes.conf kept): it comes
        back as a replica of whoever took its slots; wait until in sync."""
        node.start().wait_ready()
        wait_until(lambda: node.info("replication").get("master_link_status") == "up",
                   timeout, interval=0.05, msg="%s to rejoin as a replica" % node.name)

    def stop(self):
        _stop_all(self.nodes)

    def log_tail(self, n=20):
        return "\n".join("-- %s --\n%s" % (x.name, x.log_tail(n)) for x in self.nodes)


def _myself_line(nodes_text):
    for line in nodes_text.splitlines():
        if "myself" in line.split()[2]:
            return line
    return ""


# --- load -----------------------------------------------------------------

class SubmitLoad:
    """SubmitLoad: a thread submitting jobs of type_ to the jobd at sock,
    one every interval seconds, each on the same connection (a new one
    after jobd closed it).  accepted: [(t, job_id)]; errors:
    [(t, code, job_id or None)] (t: time.monotonic())."""

    def __init__(self, sock, type_="jobd.noop", interval=0.01, payload=None):
        self.sock = str(sock)
        self.type = type_
        self.interval = interval
        self.payload = payload if payload is not None else {}
        self.accepted = []
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *a):
        self.stop()

    start = __enter__

    def stop(self):
        self._stop.set()
        self._thread.join(60)

    def _run(self):
        c = None
        n = 0
        while not self._stop.is_set():
            t = time.monotonic()
            try:
                if c is None:
                    c = proto.Client(self.sock, timeout=30)
                r = c.call("submit", type=self.type, payload=dict(self.payload, n=n))
            except (OSError, proto.ProtocolError) as e:
                self.errors.append((t, "connection: %s" % e, None))
                if c is not None:
                    c.close()
                c = None
            else:
                if r.get("ok"):
                    self.accepted.append((t, r["job_id"]))
                else:
                    self.errors.append((t, r["error"]["code"], r.get("job_id")))
            n += 1
            self._stop.wait(self.interval)
        if c is not None:
            c.close()

    def wait_accepted(self, count, timeout=20.0):
        """wait_accepted: until count more submits were accepted."""
        goal = len(self.accepted) + count
        wait_until(lambda: len(self.accepted) >= goal, timeout,
                   msg="%d accepted submits" % count)

    def ids(self):
        return [j for _, j in self.accepted]

    def codes(self):
        """codes: {error code: count}."""
        out = {}
        for _, code, _ in self.errors:
            out[code] = out.get(code, 0) + 1
        return out

    def outage_ms(self):
        """outage_ms: first to last failing submit, in ms (0: none failed)."""
        if not self.errors:
            return 0.0
        return (self.errors[-1][0] - self.errors[0][0]) * 1000.0

    def summary(self):
        return "%d accepted, errors %r, failing for %.0f ms" % (
            len(self.accepted), self.codes(), self.outage_ms())


def final_states(sock, ids, timeout=30.0):
    """final_states: {job_id: status} once each job is terminal (or the
    error code of its get, e.g. not_found), waiting up to timeout in all."""
    out = {}
    deadline = time.monotonic() + timeout
    with proto.Client(str(sock), timeout=30) as c:
        for jid in ids:
            while True:
                r = c.call("get", job_id=jid)
                if not r.get("ok"):
                    st = r["error"]["code"]
                else:
                    st = r["job"]["status"]
                if st in ("finished", "failed", "canceled", "not_found") \
                        or time.monotonic() > deadline:
                    out[jid] = st
                    break
                time.sleep(0.05)
    return out


# --- what a jobd facing a bad topology does --------------------------------

DOUBT = {"unavailable", "in_doubt"}   # the only errors a switch may cause


def check_refused(workdir, url, words, secret=None):
    """check_refused: `jobd --check` with redis = url fails, its output
    holds every one of words and never secret."""
    conf = os.path.join(str(workdir), "bad.conf")
    with open(conf, "w") as f:
        f.write(render_config({"socket": os.path.join(str(workdir), "b.sock"),
                               "redis": url}, {}))
    r = subprocess.run([JOBD, "--check", "-c", conf], capture_output=True,
                       text=True, timeout=20, stdin=subprocess.DEVNULL)
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    for w in words:
        assert w in out, out
    if secret:
        assert secret not in out, out
    return out


def settle(d, want, timeout=15.0):
    """settle: a jobd (started with wait=False) facing a topology it cannot
    use either gives up at start (exit 1) or stays up answering health
    `unavailable`; wait until it did one of them with a text (its log, or
    health's message) for which want(text.lower()) holds; that text.  A
    crash, or an exit other than 1, fails."""
    last = []

    def done():
        if d.proc.poll() is not None:
            d.expect_exit = d.proc.returncode
            text = d.log_text()
            assert d.proc.returncode == 1, "jobd died (%s):\n%s" % (
                d.proc.returncode, d.log_tail(30))
            assert want(text.lower()), text
            return text
        try:
            with proto.Client(d.sock, timeout=5) as c:
                r = c.call("health")
        except (OSError, proto.ProtocolError):
            return None
        last[:] = [r]
        assert not r.get("ok"), "health ok: %r" % r
        err = r["error"]
        return err["message"] if err["code"] == "unavailable" and \
            want(err["message"].lower()) else None
    try:
        text = wait_until(done, timeout, interval=0.1)
    except AssertionError as e:
        raise AssertionError("%s; last health %r; log:\n%s"
                             % (e, last, d.log_tail(20))) from None
    if d.proc.poll() is None:
        time.sleep(1.0)
        assert d.alive(), d.log_tail(30)
    return text


# --- the harness checked alone ---------------------------------------------

def _selfcheck():
    import shutil
    import tempfile
    root = tempfile.mkdtemp(prefix="jdtopo", dir="/tmp")
    try:
        t0 = time.monotonic()
        st = SentinelTopology(os.path.join(root, "s"), password="dpw",
                              sentinel_password="spw")
        try:
            print("sentinel ready in %.1fs: %s" % (time.monotonic() - t0, st.url()))
            old = st.kill_master()
            t1 = time.monotonic()
            new = st.wait_new_master(old)
            print("failover %s -> %s in %.1fs" % (old.addr, new.addr, time.monotonic() - t1))
        finally:
            st.stop()
        t0 = time.monotonic()
        cl = ClusterTopology(os.path.join(root, "c"))
        try:
            print("cluster ready in %.1fs: %s" % (time.monotonic() - t0, cl.url()))
            a, b = cl.namespaces_apart(2)
            sa = cl.ns_slot(a)
            pa, pb = cl.owner(sa), cl.owner(cl.ns_slot(b))
            print("namespaces %s (slot %d on %s), %s (on %s)" % (a, sa, pa.addr, b, pb.addr))
            with pa.conn() as c:
                for i in range(250):
                    c.cmd("SET", "jobd:{%s}:k%d" % (a, i), i)
            t1 = time.monotonic()
            moved = cl.migrate_slot(sa, pb)
            assert cl.owner(sa) is pb
            assert pb.cmd("GET", "jobd:{%s}:k7" % a) == "7"
            print("slot %d moved with %d keys in %.1fs" % (sa, moved, time.monotonic() - t1))
            t1 = time.monotonic()
            new = cl.fail_over(pb)
            assert cl.owner(sa) is new
            print("failover %s -> %s in %.1fs" % (pb.addr, new.addr, time.monotonic() - t1))
        finally:
            cl.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    _selfcheck()
