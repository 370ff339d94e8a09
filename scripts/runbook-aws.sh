#!/usr/bin/env bash
# The seed runbook's AWS failover steps as a person would run them: one `aws` CLI call at a time,
# polling every second where the runbook says "wait". Used by `cargo bench -p aegis-dr-cli --bench
# aws_runbook` against the same emulators as `aegis-dr failover --provider aws`.
# Inputs (environment): AWS endpoint/credential variables, and RB_* naming the estate's resources.
set -euo pipefail
aws="${AWS_CLI:-aws}"
pr="$RB_PRIMARY_REGION"
dr="$RB_DR_REGION"

# awscli v1 ignores AWS_ENDPOINT_URL_RDS for some RDS commands: pass endpoints explicitly.
ep() { local v="AWS_ENDPOINT_URL_$1"; if [ -n "${!v:-}" ]; then echo "--endpoint-url=${!v}"; fi; }

poll() { # what, command...: runs the command every second until it prints "yes"
  local what="$1"; shift
  for _ in $(seq 1 120); do
    if [ "$("$@")" = "yes" ]; then return 0; fi
    sleep 1
  done
  echo "runbook: $what did not happen" >&2
  return 1
}

# 1. Pre-failover checks: replica status and lag, latest snapshot, DNS TTL.
"$aws" $(ep RDS) rds describe-db-instances --region "$dr" --db-instance-identifier "$RB_DB_DR" \
  --query 'DBInstances[0].[DBInstanceStatus,ReadReplicaSourceDBInstanceIdentifier]' --output text >/dev/null
"$aws" $(ep CLOUDWATCH) cloudwatch get-metric-statistics --region "$dr" --namespace AWS/RDS --metric-name ReplicaLag \
  --dimensions "Name=DBInstanceIdentifier,Value=$RB_DB_DR" --statistics Maximum --period 60 \
  --start-time "$(date -u -d '-5 min' +%Y-%m-%dT%H:%M:%SZ)" --end-time "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >/dev/null
"$aws" $(ep RDS) rds describe-db-snapshots --region "$pr" --db-instance-identifier "$RB_DB_PRIMARY" \
  --query 'reverse(sort_by(DBSnapshots,&SnapshotCreateTime))[0].SnapshotCreateTime' --output text >/dev/null
"$aws" $(ep ROUTE_53) route53 list-resource-record-sets --hosted-zone-id "$RB_ZONE_ID" \
  --query "ResourceRecordSets[?Name=='$RB_RECORD.'].TTL" --output text >/dev/null

# 2. Fence the old primary (read-only parameter group), promote the DR replica, wait until it is.
"$aws" $(ep RDS) rds modify-db-instance --region "$pr" --db-instance-identifier "$RB_DB_PRIMARY" \
  --db-parameter-group-name "$RB_FENCE_GROUP" --apply-immediately >/dev/null
"$aws" $(ep RDS) rds promote-read-replica --region "$dr" --db-instance-identifier "$RB_DB_DR" >/dev/null
promoted() {
  local src
  src="$("$aws" $(ep RDS) rds describe-db-instances --region "$dr" --db-instance-identifier "$RB_DB_DR" \
    --query 'DBInstances[0].ReadReplicaSourceDBInstanceIdentifier' --output text)"
  [ "$src" = "None" ] && echo yes || echo no
}
poll "promotion" promoted

# 3. Recover the protected servers with Elastic Disaster Recovery and wait for the job.
job="$("$aws" $(ep DRS) drs start-recovery --region "$dr" --source-servers "sourceServerID=$RB_SOURCE_SERVER" \
  --query 'job.jobID' --output text)"
job_done() {
  local st
  st="$("$aws" $(ep DRS) drs describe-jobs --region "$dr" --filters "jobIDs=$job" --query 'items[0].status' --output text)"
  [ "$st" = "COMPLETED" ] && echo yes || echo no
}
poll "recovery job" job_done

# 4. Point DNS at DR (UPSERT the CNAME, TTL 60), wait for INSYNC, disable the primary health check.
change="$("$aws" $(ep ROUTE_53) route53 change-resource-record-sets --hosted-zone-id "$RB_ZONE_ID" --change-batch \
  "{\"Changes\":[{\"Action\":\"UPSERT\",\"ResourceRecordSet\":{\"Name\":\"$RB_RECORD\",\"Type\":\"CNAME\",\"TTL\":60,\"ResourceRecords\":[{\"Value\":\"$RB_DR_TARGET\"}]}}]}" \
  --query 'ChangeInfo.Id' --output text)"
insync() {
  local st
  st="$("$aws" $(ep ROUTE_53) route53 get-change --id "$change" --query 'ChangeInfo.Status' --output text)"
  [ "$st" = "INSYNC" ] && echo yes || echo no
}
poll "DNS change" insync
"$aws" $(ep ROUTE_53) route53 update-health-check --health-check-id "$RB_HEALTH_CHECK" --disabled >/dev/null

# 5. Scale the DR node group to production (min 3, max 10, desired 6 in the runbook; the estate's
#    production sizes here) and wait until it is active with every node in service.
"$aws" $(ep EKS) eks update-nodegroup-config --region "$dr" --cluster-name "$RB_CLUSTER" --nodegroup-name "$RB_NODEGROUP" \
  --scaling-config "minSize=$RB_MIN,maxSize=$RB_MAX,desiredSize=$RB_DESIRED" >/dev/null
nodes_ready() {
  local st n
  st="$("$aws" $(ep EKS) eks describe-nodegroup --region "$dr" --cluster-name "$RB_CLUSTER" --nodegroup-name "$RB_NODEGROUP" \
    --query 'nodegroup.status' --output text)"
  n="$("$aws" $(ep AUTO_SCALING) autoscaling describe-auto-scaling-groups --region "$dr" --auto-scaling-group-names "$RB_ASG" \
    --query "length(AutoScalingGroups[0].Instances[?LifecycleState=='InService'])" --output text)"
  [ "$st" = "ACTIVE" ] && [ "$n" = "$RB_DESIRED" ] && echo yes || echo no
}
poll "nodes Ready" nodes_ready
echo "runbook: failover done"
