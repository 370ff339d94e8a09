"""moto server with a fix and three RDS operations moto 5.2.5 lacks, modelled on the real service.

Fix: moto's PromoteReadReplica leaves ReadReplicaSourceDBInstanceIdentifier set on the promoted
instance and the instance in its source's ReadReplicaDBInstanceIdentifiers; real RDS clears both once
the replica is promoted to a standalone instance. aegis-dr reads the role from exactly those fields.

Fixes: moto's DescribeGlobalClusters ignores GlobalClusterIdentifier and lists every global cluster;
CreateGlobalCluster from an existing cluster leaves that cluster with IsWriter false.

Added (moto accepts the calls but ignores them, or has no such operation):
- RebootDBInstance with ForceFailover: a Multi-AZ instance reports a SecondaryAvailabilityZone; the
  forced failover puts it in `rebooting`, then swaps AvailabilityZone and SecondaryAvailabilityZone
  and makes it `available` again. Refused for a non-Multi-AZ instance or one that is not available.
- SwitchoverGlobalCluster and FailoverGlobalCluster (AllowDataLoss): the global cluster goes to
  `switching-over` / `failing-over` with a FailoverState naming both clusters, then the target
  becomes the writer, the old writer a secondary, and the state clears. Refused while another
  operation runs, for a cluster that is not a member, or for the current writer.
Each transition takes AEGIS_MOTO_FAILOVER_SECONDS (default 1) and is applied when a describe call
after that time observes it, as the real service's state is only seen through describes.

Usage: python scripts/moto_server.py -H 127.0.0.1 -p 5000
"""

import os
import sys
import threading
import time

from moto.core.responses import ActionResult
from moto.rds.exceptions import (
    DBClusterNotFoundError,
    InvalidDBInstanceStateFault,
    InvalidParameterCombination,
    InvalidParameterValue,
    RDSClientError,
)
from moto.rds.models import DBInstance, GlobalCluster, RDSBackend, rds_backends
from moto.rds.responses import RDSResponse
from moto.server import main

TRANSITION_SECONDS = float(os.environ.get("AEGIS_MOTO_FAILOVER_SECONDS", "1"))

_promote = RDSBackend.promote_read_replica


def _promote_read_replica(self, db_kwargs):
    db = self.databases[db_kwargs["db_instance_identifier"]]
    source = db.source_db_instance_identifier if db.is_replica else None
    out = _promote(self, db_kwargs)
    if source:
        try:
            primary = self.find_db_from_id(source)
            for key in (db.db_instance_identifier, db.db_instance_arn):
                if key in primary.replicas:
                    primary.replicas.remove(key)
        except Exception:  # the source may be gone: nothing to detach from
            pass
        db.source_db_instance_identifier = None
    return out


RDSBackend.promote_read_replica = _promote_read_replica

# ---- transitions that complete after TRANSITION_SECONDS, observed by describe calls -------------

_pending = []  # (due monotonic time, callable)
_lock = threading.Lock()


def _schedule(fn):
    with _lock:
        _pending.append((time.monotonic() + TRANSITION_SECONDS, fn))


def _advance():
    now = time.monotonic()
    with _lock:
        due = [p for p in _pending if p[0] <= now]
        for p in due:
            _pending.remove(p)
    for _, fn in due:
        fn()


def _observing(method):
    def wrapped(self, *args, **kwargs):
        _advance()
        return method(self, *args, **kwargs)

    return wrapped


for _name in ("describe_db_instances", "describe_db_clusters", "describe_global_clusters"):
    setattr(RDSBackend, _name, _observing(getattr(RDSBackend, _name)))


def _flag(value):
    return value is True or str(value).lower() == "true"


# ---- Multi-AZ: SecondaryAvailabilityZone and RebootDBInstance --force-failover ------------------


def _secondary_az(self):
    if not self.multi_az:
        return None
    az = getattr(self, "_aegis_secondary_az", None)
    if az is None:
        az = self.region + ("b" if self.availability_zone.endswith("a") else "a")
    return az


DBInstance.secondary_availability_zone = property(_secondary_az)


def _reboot_db_instance(self):
    ident = self.params.get("DBInstanceIdentifier")
    force = _flag(self.params.get("ForceFailover", False))
    db = self.backend.describe_db_instances(ident)[0]
    if db.status != "available":
        raise InvalidDBInstanceStateFault(
            f"Database instance {ident} is not in available state (it is {db.status})."
        )
    if force and not db.multi_az:
        raise InvalidParameterCombination(
            f"ForceFailover can only be used with a Multi-AZ DB instance; {ident} is Single-AZ."
        )
    db.status = "rebooting"

    def done():
        if force:
            standby = db.secondary_availability_zone
            db._aegis_secondary_az = db.availability_zone
            db.availability_zone = standby
        db.status = "available"

    _schedule(done)
    return ActionResult({"DBInstance": db})


RDSResponse.reboot_db_instance = _reboot_db_instance

# ---- Aurora global databases: SwitchoverGlobalCluster, FailoverGlobalCluster --------------------

GlobalCluster.failover_state = None

_create_global = RDSBackend.create_global_cluster


def _create_global_cluster(self, *args, **kwargs):
    # moto leaves the source cluster with IsWriter false; in RDS it is the global writer.
    gc = _create_global(self, *args, **kwargs)
    if gc.members and not any(m.is_writer for m in gc.members):
        gc.members[0].is_writer = True
    return gc


RDSBackend.create_global_cluster = _create_global_cluster


def _global_cluster(self, gid):
    for region in rds_backends[self.current_account]:
        clusters = rds_backends[self.current_account][region].global_clusters
        if gid.lower() in clusters:
            return clusters[gid.lower()]
    raise RDSClientError("GlobalClusterNotFoundFault", f"Global cluster {gid} not found.")


def _global_change(self, data_loss):
    gid = self.params.get("GlobalClusterIdentifier") or ""
    target = self.params.get("TargetDbClusterIdentifier") or ""
    gc = _global_cluster(self, gid)
    member = next(
        (m for m in gc.members if target in (m.db_cluster_arn, m.db_cluster_identifier)), None
    )
    if member is None:
        raise DBClusterNotFoundError(
            target, f"DBCluster {target} is not a member of global cluster {gid}."
        )
    if gc.status != "available":
        raise RDSClientError(
            "InvalidGlobalClusterStateFault",
            f"Global cluster {gid} is {gc.status}; wait until it is available.",
        )
    if member.is_writer:
        raise InvalidParameterValue(
            f"DBCluster {target} is already the primary cluster of global cluster {gid}."
        )
    writer = next((m for m in gc.members if m.is_writer), None)
    status = "failing-over" if data_loss else "switching-over"
    gc.status = status
    gc.failover_state = {
        "Status": status,
        "FromDbClusterArn": writer.db_cluster_arn if writer else None,
        "ToDbClusterArn": member.db_cluster_arn,
        "IsDataLossAllowed": data_loss,
    }

    def done():
        if writer is not None:
            writer.is_writer = False
        member.is_writer = True
        gc.status = "available"
        gc.failover_state = None

    _schedule(done)
    return ActionResult({"GlobalCluster": gc})


def _switchover_global_cluster(self):
    return _global_change(self, False)


def _failover_global_cluster(self):
    # Without AllowDataLoss, FailoverGlobalCluster is a switchover.
    return _global_change(self, _flag(self.params.get("AllowDataLoss", False)))


def _describe_global_clusters(self):
    # moto ignores GlobalClusterIdentifier and lists every global cluster; RDS answers only that one.
    gid = self.params.get("GlobalClusterIdentifier")
    clusters = self.global_backend.describe_global_clusters()
    if gid:
        clusters = [_global_cluster(self, gid)]
    return ActionResult({"GlobalClusters": clusters})


RDSResponse.describe_global_clusters = _describe_global_clusters
RDSResponse.switchover_global_cluster = _switchover_global_cluster
RDSResponse.failover_global_cluster = _failover_global_cluster

if __name__ == "__main__":
    main(sys.argv[1:])
