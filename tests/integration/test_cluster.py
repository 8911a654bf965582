"""test_cluster.py: jobd on Redis Cluster (`redis = cluster://...`,
docs/scaling.md) against a real 3-primary/3-replica cluster
(tests/integration/redis_topology.py).  Each daemon's namespace is one
hash slot (`jobd:{NS}:...`): two daemons in two namespaces on two
primaries; a migration of one namespace's slot, and the SIGKILL of its
primary (its replica takes over), under a steady submit load with
`durable = yes`, lose nothing acknowledged.  Attacks: seeds that are not
cluster nodes, a cluster:// URL with a database or parameters.
"""
import os

import pytest

from redis_topology import (DOUBT, ClusterTopology, Node, SubmitLoad,
                            check_refused, final_states, settle)

PASSWORD = "cl:pw@z"


@pytest.fixture
def cluster(workdir):
    t = ClusterTopology(os.path.join(workdir, "cl"), password=PASSWORD)
    yield t
    t.stop()


def ns_jobd(jobd, cluster, ns, **settings):
    return jobd(name=ns, workers=2,
                settings=dict({"redis": cluster.url(), "namespace": ns}, **settings))


def keys_on(node, ns):
    return node.cmd("CLUSTER", "COUNTKEYSINSLOT", node.cmd("CLUSTER", "KEYSLOT", "{%s}" % ns))


def run_under_load(d, action):
    """action() while a load submits to d; then 20 more accepted after it.
    Every error must be unavailable/in_doubt, every accepted job must
    finish (durable = yes), an in_doubt one finish or be absent."""
    pid = d.proc.pid
    with SubmitLoad(d.sock, interval=0.01) as load:
        load.wait_accepted(20)
        action()
        load.wait_accepted(20, timeout=30)
    print(load.summary())
    assert d.alive() and d.proc.pid == pid, "jobd restarted or died"
    bad = {code for _, code, _ in load.errors} - DOUBT
    assert not bad, "errors other than unavailable/in_doubt: %s" % load.summary()
    states = final_states(d.sock, load.ids())
    lost = {j: st for j, st in states.items() if st != "finished"}
    assert not lost, "%d acknowledged jobs not finished (%s): %r" % (
        len(lost), load.summary(), dict(list(lost.items())[:10]))
    doubtful = final_states(d.sock, [j for _, _, j in load.errors if j])
    assert set(doubtful.values()) <= {"finished", "not_found"}, doubtful
    with d.client() as c:
        assert c.wait(c.submit("jobd.echo", {"after": 1}))["result"] == {"after": 1}
    return load


def test_two_namespaces_on_two_primaries(jobd, cluster):
    a, b = cluster.namespaces_apart(2)
    pa, pb = cluster.owner(cluster.ns_slot(a)), cluster.owner(cluster.ns_slot(b))
    da, db = ns_jobd(jobd, cluster, a), ns_jobd(jobd, cluster, b)
    for d, n in ((da, 5), (db, 7)):
        with d.client() as c:
            ids = [c.submit("jobd.echo", {"i": i}) for i in range(n)]
            for i, j in enumerate(ids):
                assert c.wait(j)["result"] == {"i": i}
            stats = c.ok("stats")
            assert stats["totals"]["finished"] == n, stats
    # Each namespace's keys live on its own primary only.
    assert keys_on(pa, a) > 0 and keys_on(pb, b) > 0
    for n in cluster.primaries():
        if n is not pa:
            assert keys_on(n, a) == 0
    r = da.jobctl("stats")
    assert r.returncode == 0 and "(total)" in r.stdout, r.stdout + r.stderr
    log = da.log_text() + db.log_text()
    assert PASSWORD not in log and "cl:pw" not in log


def test_slot_migration_under_load_loses_nothing(jobd, cluster):
    a, b = cluster.namespaces_apart(2)
    slot = cluster.ns_slot(a)
    dest = cluster.owner(cluster.ns_slot(b))
    d = ns_jobd(jobd, cluster, a, durable=True)
    other = ns_jobd(jobd, cluster, b)
    moved = []
    run_under_load(d, lambda: moved.append(cluster.migrate_slot(slot, dest, batch=5,
                                                               pause=0.05)))
    assert cluster.owner(slot) is dest and moved[0] > 0
    assert keys_on(dest, a) > 0
    with other.client() as c:
        assert c.wait(c.submit("jobd.noop"))["status"] == "finished"


def test_primary_failover_under_load_loses_nothing(jobd, cluster):
    a, = cluster.namespaces_apart(1)
    slot = cluster.ns_slot(a)
    old = cluster.owner(slot)
    d = ns_jobd(jobd, cluster, a, durable=True)

    def fail_over():
        new = cluster.fail_over(old)
        assert cluster.owner(slot) is new
        # The old primary comes back as the new one's replica, so that
        # WAIT 1 can be confirmed again.
        cluster.rejoin(old)
    run_under_load(d, fail_over)


# --- attacks ----------------------------------------------------------------

def test_seeds_that_are_not_cluster_nodes(jobd, workdir):
    plain = Node(workdir, "plain").start().wait_ready()
    try:
        d = jobd(settings={"redis": "cluster://" + plain.addr}, workers=1, wait=False)
        settle(d, lambda text: "cluster" in text)
    finally:
        plain.stop()


@pytest.mark.parametrize("url, words", [
    ("cluster://u:hunter2@127.0.0.1:7000/3", ["database 0 only"]),
    ("cluster://u:hunter2@127.0.0.1:7000?db=1", ["no parameters"]),
    ("cluster://u:hunter2@127.0.0.1:0", ["bad port"]),
    ("cluster://u:hunter2@", ["missing host"]),
])
def test_bad_cluster_url_is_refused(workdir, url, words):
    check_refused(workdir, url, words, secret="hunter2")
