"""The runbook's GCP calls through Google's Python discovery client (google-api-python-client), with
its bundled discovery documents, against the simulator at argv[1] with the access token argv[2].

`gcloud sql instances failover aegis-db`, `... switchover`, `gcloud dns record-sets update
api.aegis.io. --ttl=60 --rrdatas=dr-lb.aegis.io.`, `gcloud container clusters resize aegis-dr
--node-pool primary-pool --num-nodes 6`, each followed to its end, and a stale settingsVersion and a
denied permission refused. Any disagreement raises; the last line printed is a JSON summary.
"""

import json
import sys
import time

import google.oauth2.credentials
from googleapiclient import discovery
from googleapiclient.errors import HttpError

base, token, project = sys.argv[1].rstrip("/"), sys.argv[2], "aegis-prod"
creds = google.oauth2.credentials.Credentials(token=token)


def client(name, version, path):
    return discovery.build(
        name,
        version,
        credentials=creds,
        static_discovery=True,
        client_options={"api_endpoint": f"{base}/{path}"},
        cache_discovery=False,
    )


def until(what, fetch, done):
    for _ in range(200):
        got = fetch()
        if done(got):
            return got
        time.sleep(0.05)
    raise AssertionError(f"{what}: never done: {got}")


sql = client("sqladmin", "v1", "")
monitoring = client("monitoring", "v3", "")
dns = client("dns", "v1", "")
gke = client("container", "v1", "")
compute = client("compute", "v1", "compute/v1/")
summary = {}

# Cloud SQL: HA failover with the current settingsVersion, followed to DONE.
db = sql.instances().get(project=project, instance="aegis-db").execute()
assert db["instanceType"] == "CLOUD_SQL_INSTANCE", db
assert db["settings"]["availabilityType"] == "REGIONAL", db
version = db["settings"]["settingsVersion"]
zone = db["gceZone"]
try:
    sql.instances().failover(project=project, instance="aegis-db",
                             body={"failoverContext": {"kind": "sql#failoverContext",
                                                       "settingsVersion": str(int(version) - 1)}}).execute()
    raise AssertionError("a stale settingsVersion was accepted")
except HttpError as e:
    assert e.resp.status == 412, e
op = sql.instances().failover(project=project, instance="aegis-db",
                              body={"failoverContext": {"kind": "sql#failoverContext",
                                                        "settingsVersion": version}}).execute()
assert op["status"] in ("PENDING", "RUNNING"), op
assert op["operationType"] == "FAILOVER", op
until("failover", lambda: sql.operations().get(project=project, operation=op["name"]).execute(),
      lambda o: o["status"] == "DONE")
db = sql.instances().get(project=project, instance="aegis-db").execute()
assert db["gceZone"] != zone and db["secondaryGceZone"] == zone, db
summary["ha_zone"] = db["gceZone"]

# Cloud Monitoring: the DR replica's lag, the metric aegis-dr reads.
series = monitoring.projects().timeSeries().list(
    name=f"projects/{project}",
    filter='metric.type = "cloudsql.googleapis.com/database/replication/replica_lag" '
           f'AND resource.labels.database_id = "{project}:aegis-db-failover"',
    interval_startTime="2026-01-01T00:00:00Z",
    interval_endTime="2099-01-01T00:00:00Z",
).execute()
summary["replica_lag"] = series["timeSeries"][0]["points"][0]["value"]["doubleValue"]

# Cloud SQL: switchover to the DR replica.
rep = sql.instances().get(project=project, instance="aegis-db-failover").execute()
assert rep["instanceType"] == "READ_REPLICA_INSTANCE" and rep["masterInstanceName"] == "aegis-prod:aegis-db", rep
op = sql.instances().switchover(project=project, instance="aegis-db-failover").execute()
until("switchover", lambda: sql.operations().get(project=project, operation=op["name"]).execute(),
      lambda o: o["status"] == "DONE")
old = sql.instances().get(project=project, instance="aegis-db").execute()
assert old["instanceType"] == "READ_REPLICA_INSTANCE" and old["masterInstanceName"] == "aegis-prod:aegis-db-failover", old
runs = sql.backupRuns().list(project=project, instance="aegis-db").execute()
assert runs["items"][0]["status"] == "SUCCESSFUL", runs

# Cloud DNS: the record flipped by one change, deletion and addition, followed to done.
rr = dns.resourceRecordSets().get(project=project, managedZone="aegis-zone", name="api.aegis.io.",
                                  type="CNAME").execute()
new = {"name": "api.aegis.io.", "type": "CNAME", "ttl": 60, "rrdatas": ["dr-lb.aegis.io."]}
change = dns.changes().create(project=project, managedZone="aegis-zone",
                              body={"deletions": [rr], "additions": [new]}).execute()
assert change["status"] == "pending", change
until("change", lambda: dns.changes().get(project=project, managedZone="aegis-zone",
                                          changeId=change["id"]).execute(),
      lambda c: c["status"] == "done")
try:
    dns.changes().create(project=project, managedZone="aegis-zone",
                         body={"deletions": [rr], "additions": [new]}).execute()
    raise AssertionError("a deletion of a record set that changed was accepted")
except HttpError as e:
    assert e.resp.status == 412, e

# GKE: resize the DR pool to 6 nodes, followed to DONE; Compute's group has them.
name = f"projects/{project}/locations/us-east1-b/clusters/aegis-dr/nodePools/primary-pool"
op = gke.projects().locations().clusters().nodePools().setSize(name=name, body={"nodeCount": 6}).execute()
assert op["operationType"] == "SET_NODE_POOL_SIZE", op
until("resize", lambda: gke.projects().locations().operations().get(
    name=f"projects/{project}/locations/us-east1-b/operations/{op['name']}").execute(),
      lambda o: o["status"] == "DONE")
pool = gke.projects().locations().clusters().nodePools().get(name=name).execute()
assert pool["status"] == "RUNNING", pool
group = pool["instanceGroupUrls"][0].rsplit("/", 1)[1]
mig = compute.instanceGroupManagers().get(project=project, zone="us-east1-b",
                                          instanceGroupManager=group).execute()
assert mig["targetSize"] == 6 and mig["status"]["isStable"], mig
summary["pool_size"] = mig["targetSize"]

# A permission the caller lacks: 403 naming it.
try:
    sql.instances().promoteReplica(project=project, instance="aegis-db").execute()
    raise AssertionError("a denied promoteReplica was accepted")
except HttpError as e:
    assert e.resp.status == 403 and "cloudsql.instances.promoteReplica" in e.content.decode(), e
print(json.dumps(summary))
