"""moto server with one fix that makes RDS behave like the real service.

moto 5.2.5's PromoteReadReplica leaves ReadReplicaSourceDBInstanceIdentifier set on the promoted
instance and the instance in its source's ReadReplicaDBInstanceIdentifiers; real RDS clears both once
the replica is promoted to a standalone instance. aegis-dr reads the role from exactly those fields.
Usage: python scripts/moto_server.py -H 127.0.0.1 -p 5000
"""

import sys

from moto.rds.models import RDSBackend
from moto.server import main

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

if __name__ == "__main__":
    main(sys.argv[1:])
