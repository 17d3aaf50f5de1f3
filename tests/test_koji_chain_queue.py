"""The moduleChain consumer's loop over strata.take_pending_chain's
(chain, until, unplannable), through the stand-in hub and kojid of
test_koji_module_chain.py (the REAL hub plugin's postTag callback, the
REAL builder plugin under koji's TaskManager.runTask): a queued event
that cannot be planned is logged and left queued without holding back
the tagging queued beside it, and a tagging still inside the policy's
debounce window is slept on, then taken as one chain; only the newest
consumer sleeps through a window."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import koji
import strata
from test_koji_builder import HOST, TAG, handler_class, site  # noqa: F401 (fixture)
from test_koji_chain import chain  # noqa: F401 (fixture)
from test_koji_module_chain import (NEW, Kojid, _one_chain, _rebuild_httpd, _repo_done,  # noqa: F401
                                    strata_builder, world)


def test_an_unplannable_event_stays_queued_and_the_debounce_is_waited(world, tmp_path):
    site, k, first = world
    fake = site.hub.koji_hub
    (tmp_path / "policy.yaml").write_text(
        "document: strata-policy\nversion: 1\ndata:\n  rules:\n"
        "    - match: '*:*'\n      debounce: 3s\n")
    # a definition no catalog entry lists: queued, never plannable
    gone = tmp_path / "gone.yaml"
    gone.write_text((tmp_path / "catalog" / "php.yaml").read_text())
    (bad,) = strata.submit_event(definitions=[str(gone)], registry=site.shared_registry,
                                 config=site.strata.config)
    _rebuild_httpd(site)
    (parent,) = fake.tasks
    res = _one_chain(site, parent)
    assert [(s["name"], s["state"]) for s in res["steps"]] == [("apache", "finished"),
                                                               ("php", "finished")]
    shown = strata.get_chain(res["chain_id"], registry=site.shared_registry).to_dict()
    assert [e.get("nvr") for e in shown["events"]] == [NEW], shown["events"]
    # the unplannable event: named in the task's log, still queued
    assert [q["seq"] for q in strata.pending_events(registry=site.shared_registry)] == [bad]
    log = (Path(site.uploaded(parent)) / "chain.log").read_text()
    assert str(gone) in log and "not in the catalog" in log, log
    assert "(debounce)" in log, log


def test_only_the_newest_consumer_sleeps_through_a_debounce(world, tmp_path, monkeypatch):
    """An event queued while the consumer sleeps through the debounce makes
    a newer consumer (the hub reuses only one that has not started): the
    older one sees it and ends rather than hold a kojid slot asleep (a
    steady stream of taggings would otherwise pile sleepers up until they
    fill maxjobs), and the newest takes every event as one chain."""
    site, k, first = world
    fake = site.hub.koji_hub
    monkeypatch.setattr(strata_builder, "CONSUMER_POLL_SECS", 0.1)
    (tmp_path / "policy.yaml").write_text(
        "document: strata-policy\nversion: 1\ndata:\n  rules:\n"
        "    - match: '*:*'\n      debounce: 8s\n")
    _rebuild_httpd(site)
    (older,) = fake.tasks
    with Kojid(site) as kojid:
        end = time.monotonic() + 120
        while time.monotonic() < end and not kojid.errors:
            handler = kojid.handlers.get(older)
            log = Path(handler._logfile) if handler is not None else None
            if log is not None and log.exists() and "(debounce)" in log.read_text():
                break
            time.sleep(0.05)
        assert not kojid.errors, kojid.errors
        # the older consumer sleeps; a new repo of the watched tag queues an
        # event and makes a consumer of its own
        _repo_done(site)
        consumers = [t for t in sorted(fake.tasks) if fake.tasks[t]["method"] == "moduleChain"]
        assert consumers[0] == older and len(consumers) == 2, consumers
        newer = consumers[1]
        kojid.wait_for_task(older)
        assert fake.tasks[newer]["state"] != koji.TASK_STATES["CLOSED"], "the older ended first"
        kojid.wait_for_task(newer)
    assert not kojid.errors, kojid.errors
    assert site.hub.task(older)["result"] == {"chains": []}
    log = (Path(site.uploaded(older)) / "chain.log").read_text()
    assert "moduleChain task %d, a newer consumer, takes the queue" % newer in log, log
    (res,) = site.hub.task(newer)["result"]["chains"]
    assert [(s["name"], s["state"]) for s in res["steps"]] == [("apache", "finished"),
                                                               ("php", "finished")]
    taken = strata.get_chain(res["chain_id"], registry=site.shared_registry).to_dict()["events"]
    assert [e.get("nvr") for e in taken if "nvr" in e] == [NEW], taken
    assert any(e.get("event") == "repo" for e in taken), taken
    assert strata.pending_events(registry=site.shared_registry) == []


def test_a_consumer_names_the_newest_of_several_newer_ones(site):  # noqa: F811
    """listTasks sets no order (a real hub listed moduleChain tasks 5, 10,
    8, 12): a sleeping consumer that finds several newer consumers not yet
    ended names the newest, wherever listTasks lists it, and ignores
    moduleChain tasks that are no consumer and consumers that have ended."""
    fake = site.hub.koji_hub
    owner = fake.user("packager")["id"]
    pending = {"pending": True, "tags": [TAG]}

    def chain_task(opts, events=None):
        return fake.make_task("moduleChain", [events or {}, opts], owner=owner, channel="strata")

    older = chain_task(pending)
    fake.open_task(older, HOST)
    a, b, newest = chain_task(pending), chain_task(pending), chain_task(pending)
    fake.open_task(a, HOST)
    # newer than all, but no consumer, or ended
    chain_task({"resume": "chain-20261205.0"})
    chain_task({}, {"builds": [NEW]})
    ended = chain_task(pending)
    fake.open_task(ended, HOST)
    fake.close_task(ended, {"chains": []})
    states = [koji.TASK_STATES[s] for s in ("FREE", "ASSIGNED", "OPEN")]
    listed = [t["id"] for t in site.session.listTasks(
        opts={"method": "moduleChain", "state": states, "decode": True})
        if t["request"][1].get("pending") and t["id"] > older]
    # neither the first nor the last newer consumer listed is the newest
    assert listed == [b, newest, a], listed

    def handler(task_id):
        h = handler_class(strata_builder, "moduleChain")(
            task_id, "moduleChain", [{}, pending], site.session, site.options)
        h._lock = threading.Lock()
        return h

    assert handler(older)._newer_consumer() == newest
    # a newer consumer ends the sleep before it starts
    assert handler(older)._sleep_until(time.time() + 3600) == newest
    assert handler(a)._newer_consumer() == newest
    # the newest sees none newer than itself
    assert handler(newest)._newer_consumer() is None
