"""The moduleChain consumer's loop over strata.take_pending_chain's
(chain, until, unplannable), through the stand-in hub and kojid of
test_koji_module_chain.py (the REAL hub plugin's postTag callback, the
REAL builder plugin under koji's TaskManager.runTask): a queued event
that cannot be planned is logged and left queued without holding back
the tagging queued beside it, and a tagging still inside the policy's
debounce window is slept on, then taken as one chain."""

from __future__ import annotations

from pathlib import Path

import strata
from test_koji_builder import TAG, site  # noqa: F401 (fixture)
from test_koji_chain import chain  # noqa: F401 (fixture)
from test_koji_module_chain import NEW, _one_chain, _rebuild_httpd, world  # noqa: F401 (fixture)


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
